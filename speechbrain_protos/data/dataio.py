"""SpeechBrain data pipelines shared by every recipe.

Training clips are cut to a fixed number of frames at a random offset
(short clips are looped first, as the authors' code does); validation and
test clips are read whole and batched with padding and relative lengths.
Audio is downmixed to mono and resampled to the model's rate on reading.

Authors
 * speechbrain-protos developers 2026
"""

import os

import speechbrain as sb
import torch
import torchaudio


def read_clip(path, start, stop, file_rate, target_rate):
    """Reads samples ``[start, stop)`` of a file as mono at ``target_rate``.

    Arguments
    ---------
    path : str
        Audio file.
    start, stop : int
        Sample range in the file.
    file_rate : int
        The file's sample rate.
    target_rate : int
        Rate to return.

    Returns
    -------
    torch.Tensor
        ``[samples]`` float waveform.

    Example
    -------
    >>> import soundfile
    >>> path = str(getfixture("tmpdir") / "stereo.wav")
    >>> soundfile.write(path, torch.rand(800, 2).numpy() - 0.5, 8000)
    >>> read_clip(path, 0, 800, 8000, 16000).shape
    torch.Size([1600])
    """
    signal = sb.dataio.dataio.read_audio({"file": path, "start": start, "stop": stop})
    if signal.dim() == 2:
        signal = signal.mean(dim=1)
    if file_rate != target_rate:
        signal = torchaudio.functional.resample(signal, file_rate, target_rate)
    return signal


def random_crop(signal, n_samples):
    """A random window of ``n_samples``; shorter signals are looped first.

    Example
    -------
    >>> random_crop(torch.arange(3.0), 7)
    tensor([0., 1., 2., 0., 1., 2., 0.])
    >>> random_crop(torch.arange(10.0), 4).shape
    torch.Size([4])
    """
    if signal.numel() < n_samples:
        repeats = -(-n_samples // signal.numel())
        return signal.repeat(repeats)[:n_samples]
    offset = int(torch.randint(signal.numel() - n_samples + 1, (1,)))
    return signal[offset : offset + n_samples]


def crop_samples(n_frames, hop_length):
    """Samples that give exactly ``n_frames`` centred frames.

    Example
    -------
    >>> crop_samples(256, 512)
    130560
    """
    return (n_frames - 1) * hop_length


def dataio_prep(hparams):
    """Builds the datasets and the label encoder of a recipe.

    Arguments
    ---------
    hparams : dict
        Needs ``data_folder``, ``{train,valid,test}_annotation``,
        ``save_folder``, ``sample_rate``, ``hop_length`` and
        ``train_crop_frames``.

    Returns
    -------
    datasets : dict
        ``train`` (random crops), ``train_eval`` (the training clips whole,
        for the unsupervised cluster-to-class mapping), ``valid`` and
        ``test`` (whole clips, sorted by duration to batch with little
        padding). Items give ``id``, ``sig`` and ``label_encoded``.
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

    @sb.utils.data_pipeline.takes("wav", "start", "stop", "sample_rate")
    @sb.utils.data_pipeline.provides("sig")
    def train_audio(wav, start, stop, sample_rate):
        return random_crop(
            read_clip(wav, start, stop, sample_rate, target_rate), n_crop
        )

    @sb.utils.data_pipeline.takes("wav", "start", "stop", "sample_rate")
    @sb.utils.data_pipeline.provides("sig")
    def whole_audio(wav, start, stop, sample_rate):
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
            output_keys=["id", "sig", "label_encoded"],
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
