"""SpeechBrain data pipelines shared by every recipe.

Training clips are cut to a fixed number of frames at a random offset
(short clips are looped first, as the authors' code does); validation and
test clips are read whole and batched with padding and relative lengths.
Audio is downmixed to mono and resampled to the model's rate on reading.

Items give ``sig`` (waveforms, for the Brain's front end), or, with a
``feature_cache`` folder, ``feats``: the front end's features, computed in
the data pipeline once per clip and read back from disk in later epochs
(:mod:`speechbrain_protos.data.feature_cache`).

Authors
 * speechbrain-protos developers 2026
"""

import logging
import os

import speechbrain as sb

from speechbrain_protos.data.clips import crop_samples, random_crop, read_clip
from speechbrain_protos.data.feature_cache import FeatureCache, random_frame_crop

logger = logging.getLogger(__name__)


def batch_features(batch, front_end):
    """Features and relative lengths of a padded batch.

    Arguments
    ---------
    batch : speechbrain.dataio.batch.PaddedBatch
        Items from :func:`dataio_prep`: ``feats`` when the feature cache is
        on, else ``sig``.
    front_end : torch.nn.Module
        Turns ``(wavs, lens)`` into features; used for ``sig`` batches.

    Returns
    -------
    feats : torch.Tensor
        ``[B, T, bins]``.
    lens : torch.Tensor
        Relative lengths ``[B]``.

    Example
    -------
    >>> import torch
    >>> from speechbrain.dataio.batch import PaddedBatch
    >>> from speechbrain_protos.features import LogMel
    >>> front_end = LogMel(n_mels=40)
    >>> batch = PaddedBatch([{"sig": torch.rand(8000)}, {"sig": torch.rand(4000)}])
    >>> feats, lens = batch_features(batch, front_end)
    >>> feats.shape, lens.tolist()
    (torch.Size([2, 16, 40]), [1.0, 0.5])
    >>> items = [{"feats": torch.rand(16, 40)}, {"feats": torch.rand(8, 40)}]
    >>> cached = PaddedBatch(items)
    >>> feats, lens = batch_features(cached, front_end)
    >>> feats.shape, lens.tolist()
    (torch.Size([2, 16, 40]), [1.0, 0.5])
    """
    if hasattr(batch, "feats"):
        return batch.feats
    wavs, lens = batch.sig
    feats = front_end(wavs, lens)
    if hasattr(front_end, "frame_lengths"):  # each clip's own frame count
        lens = front_end.frame_lengths(lens, wavs.shape[1])
    return feats, lens


def dataio_prep(hparams):
    """Builds the datasets and the label encoder of a recipe.

    Arguments
    ---------
    hparams : dict
        Needs ``data_folder``, ``{train,valid,test}_annotation``,
        ``save_folder``, ``sample_rate``, ``hop_length`` and
        ``train_crop_frames``. Optional: ``feature_cache`` (a folder; items
        then give ``feats`` from ``compute_features`` instead of ``sig``)
        and ``feature_cache_gigabytes`` (its size bound, default 20).

    Returns
    -------
    datasets : dict
        ``train`` (random crops), ``train_eval`` (the training clips whole,
        for the unsupervised cluster-to-class mapping), ``valid`` and
        ``test`` (whole clips, sorted by duration to batch with little
        padding). Items give ``id``, ``sig`` (or ``feats``) and
        ``label_encoded``.
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        Classes in sorted order, saved to ``<save_folder>/label_encoder.txt``.
    """
    data_folder = hparams["data_folder"]
    target_rate = hparams["sample_rate"]
    n_crop = crop_samples(hparams["train_crop_frames"], hparams["hop_length"])
    annotations = {
        name: hparams[f"{name}_annotation"] for name in ("train", "valid", "test")
    }
    for name, path in annotations.items():
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"the {name} manifest {path} does not exist; run the data "
                "preparation (skip_prep: False)"
            )

    cache = None
    if hparams.get("feature_cache"):
        cache = FeatureCache(
            hparams["feature_cache"],
            hparams["compute_features"],
            hparams.get("feature_cache_gigabytes", 20.0),
        )
        logger.info("Features cached in %s", cache.folder)
    signal_key = "sig" if cache is None else "feats"

    @sb.utils.data_pipeline.takes("wav", "start", "stop", "sample_rate")
    @sb.utils.data_pipeline.provides(signal_key)
    def train_audio(wav, start, stop, sample_rate):
        if cache is not None:
            feats = cache.features(wav, start, stop, sample_rate, loop_to=n_crop)
            return random_frame_crop(feats, hparams["train_crop_frames"])
        return random_crop(
            read_clip(wav, start, stop, sample_rate, target_rate), n_crop
        )

    @sb.utils.data_pipeline.takes("wav", "start", "stop", "sample_rate")
    @sb.utils.data_pipeline.provides(signal_key)
    def whole_audio(wav, start, stop, sample_rate):
        if cache is not None:
            return cache.features(wav, start, stop, sample_rate)
        return read_clip(wav, start, stop, sample_rate, target_rate)

    label_encoder = sb.dataio.encoder.CategoricalEncoder()

    @sb.utils.data_pipeline.takes("label")
    @sb.utils.data_pipeline.provides("label_encoded")
    def label_pipeline(label):
        return label_encoder.encode_label_torch(label)

    def load(name, audio_pipeline):
        return sb.dataio.dataset.DynamicItemDataset.from_json(
            json_path=annotations[name],
            replacements={"data_root": data_folder},
            dynamic_items=[audio_pipeline, label_pipeline],
            output_keys=["id", signal_key, "label_encoded"],
        )

    datasets = {
        "train": load("train", train_audio),
        "train_eval": load("train", whole_audio).filtered_sorted(sort_key="duration"),
        "valid": load("valid", whole_audio).filtered_sorted(sort_key="duration"),
        "test": load("test", whole_audio).filtered_sorted(sort_key="duration"),
    }
    labels = {
        name: {entry["label"] for entry in datasets[name].data.values()}
        for name in ("train", "valid", "test")
    }
    unseen = (labels["valid"] | labels["test"]) - labels["train"]
    if unseen:
        raise ValueError(
            f"classes {sorted(unseen)} appear in valid/test but not in the training "
            "manifest; every class needs training clips"
        )
    label_encoder.load_or_create(
        path=os.path.join(hparams["save_folder"], "label_encoder.txt"),
        from_iterables=[sorted(labels["train"])],
    )
    label_encoder.expect_len(len(labels["train"]))
    return datasets, label_encoder
