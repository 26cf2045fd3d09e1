"""The Brains of the paper's baselines, trained and scored like the prototypes.

Every baseline reads the same manifests, the same log-mel front end and the
same augmentation as :class:`~speechbrain_protos.brain.PrototypeBrain`, and
writes the same ``test_results.json`` (OA, AA, per-class accuracy) and
confusion matrix, so the tables of ``bench/accuracy.py`` compare like with
like:

* :class:`ClassifierBrain` trains a classifier of log-mels
  (:class:`~speechbrain_protos.baselines.TemporalConvClassifier`, the
  paper's direct classification, with cross-entropy;
  :class:`~speechbrain_protos.baselines.EcapaClassifier` with the additive
  angular margin loss);
* :class:`AutoencoderKMeansBrain` trains
  :class:`~speechbrain_protos.baselines.ConvAutoencoder` to reconstruct
  log-mels, then clusters the training clips' embeddings with K-means and
  names each cluster by its majority class.

A recipe switches to a baseline with ``brain_class`` in its YAML (see
``hparams/direct_classification.yaml``, ``ecapa_tdnn.yaml`` and
``autoencoder_kmeans.yaml`` of each recipe).

Authors
 * speechbrain-protos developers 2026
"""

import logging

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process
from tqdm import tqdm

from speechbrain_protos.baselines import kmeans
from speechbrain_protos.brain import PackageBrain
from speechbrain_protos.data.dataio import batch_features
from speechbrain_protos.lengths import frame_counts, frame_mask
from speechbrain_protos.metrics import (
    AssignmentCounts,
    majority_mapping,
    write_test_report,
)
from speechbrain_protos.precision import full_precision

logger = logging.getLogger(__name__)

# What every baseline run needs (augmentation may be null).
BASELINE_HPARAMS = (
    "epoch_counter",
    "train_logger",
    "augmentation",
    "dataloader_options",
    "test_dataloader_options",
    "output_folder",
)


class _BaselineBrain(PackageBrain):
    """What the baselines share: an epoch loop with a best-checkpoint key,
    OA/AA counts per stage, and the test report of the prototype models.

    Required hyperparameters: ``epoch_counter``, ``train_logger``,
    ``augmentation`` (may be null), ``dataloader_options``,
    ``test_dataloader_options``, ``output_folder``; modules
    ``compute_features`` and ``model``.
    """

    #: the checkpoint metadata key whose lowest value is tested
    best_key = "error"
    required_hparams = BASELINE_HPARAMS
    checkpointed = ("model", "epoch_counter")

    def features(self, batch, stage):
        """Log-mels of a batch (augmented in training) and relative lengths."""
        batch = self.to_device(batch)
        feats, lens = batch_features(batch, self.modules.compute_features)
        if stage == sb.Stage.TRAIN and self.hparams.augmentation is not None:
            feats = self.hparams.augmentation(feats)
        return feats, lens

    def n_outputs(self):
        """Number of columns of the count matrix (classes or clusters)."""
        return len(self.class_names)

    def on_stage_start(self, stage, epoch=None):
        """Fresh counters."""
        self.counts = AssignmentCounts(
            len(self.class_names), self.n_outputs(), self.device
        )

    def stage_stats(self, stage, stage_loss):
        """Loss, OA and AA of a finished stage."""
        stats = {"loss": stage_loss, **self.counts.summarize(self.test_mapping())}
        del stats["L_rec"]
        stats["error"] = 100.0 - stats["OA"]
        return stats

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs the epoch, keeps the best checkpoint, writes the test report."""
        stats = self.stage_stats(stage, stage_loss)
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
        elif stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"epoch": epoch, **stats}, min_keys=[self.best_key]
            )
        else:
            self.test_stats = stats
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.test_checkpoint_meta.get("epoch")},
                test_stats=stats,
            )
            if if_main_process():
                write_test_report(
                    self.hparams.output_folder,
                    {**stats, "L_rec": stats.get("L_rec")},
                    self.counts,
                    self.test_mapping(),
                    self.class_names,
                    self.test_checkpoint_meta,
                )

    def test_mapping(self):
        """Class of each output column (identity for classifiers)."""
        return torch.arange(self.n_outputs())

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the best checkpoint and keeps its metadata for the report."""
        self.load_tested_checkpoint(max_key=max_key, min_key=min_key)

    @property
    def epoch_source(self):
        """The epoch counter: a fixed budget."""
        return self.hparams.epoch_counter

    @property
    def tested_key(self):
        """:attr:`best_key`."""
        return self.best_key


class ClassifierBrain(_BaselineBrain):
    """Trains a classifier of log-mels (direct classification, ECAPA-TDNN).

    The model maps ``(feats [B, T, n_mels], lens [B])`` to class scores
    ``[B, C]``; ``compute_cost(scores, targets)`` is its loss (cross-entropy,
    or :class:`AngularMarginLoss`). The prediction is the best score. The
    checkpoint with the lowest validation error is tested.
    """

    required_hparams = (*BASELINE_HPARAMS, "compute_cost")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        n_classes = getattr(self.modules.model, "n_classes", None)
        if n_classes is not None:
            self.check_class_count(n_classes, "outputs")

    def compute_forward(self, batch, stage):
        """Class scores of the batch."""
        feats, lens = self.features(batch, stage)
        return full_precision(self.modules.model(feats, lens))

    def compute_objectives(self, predictions, batch, stage):
        """The loss; also counts predictions."""
        self.check_class_count(predictions.shape[-1], "outputs")  # any model
        targets = batch.label_encoded.data.reshape(-1)
        predicted = predictions.argmax(dim=1)
        no_errors = torch.zeros_like(targets, dtype=torch.float)
        self.counts.append(targets, predicted, no_errors)
        return self.hparams.compute_cost(predictions, targets)


class AutoencoderKMeansBrain(_BaselineBrain):
    """Autoencoder + K-means (the paper's Table 2 baseline).

    Trains the autoencoder to reconstruct log-mels (mean squared error over
    valid frames) and keeps the checkpoint of lowest validation error. At
    test time it embeds every training clip (whole, not augmented), runs
    K-means with ``n_clusters`` clusters, names each cluster by the majority
    class of its training clips, and scores test clips by their nearest
    centroid. ``L_rec`` is the autoencoder's reconstruction error in the
    paper's unit (10^3 x MSE per bin), comparable with the prototypes'.

    Required hyperparameters beyond the shared ones: ``n_clusters``,
    ``seed``.
    """

    best_key = "loss"
    needs_mapping_set = True
    required_hparams = (*BASELINE_HPARAMS, "n_clusters", "seed")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.centroids = None
        self.cluster_classes = None

    def n_outputs(self):
        """Columns of the count matrix: one per cluster."""
        return self.hparams.n_clusters

    def compute_forward(self, batch, stage):
        """Log-mels, their reconstruction, and (at test) their embedding."""
        feats, lens = self.features(batch, stage)
        model = self.modules.model
        embeddings = model.embed(feats, lens) if stage == sb.Stage.TEST else None
        return feats, lens, model(feats), embeddings

    def compute_objectives(self, predictions, batch, stage):
        """Mean squared error over valid frames; at test, nearest centroids."""
        feats, lens, reconstruction, embeddings = predictions
        n_frames = feats.shape[1]
        mask = frame_mask(frame_counts(lens, n_frames), n_frames)
        mask = mask.unsqueeze(-1).to(feats.dtype)
        per_clip = ((reconstruction - feats) ** 2 * mask).sum(dim=(1, 2)) / (
            mask.sum(dim=(1, 2)) * feats.shape[2]
        )
        targets = batch.label_encoded.data.reshape(-1)
        if stage == sb.Stage.TEST:
            clusters = torch.cdist(embeddings, self.centroids.to(embeddings)).argmin(
                dim=1
            )
        else:
            clusters = torch.zeros_like(targets)
        self.counts.append(targets, clusters, per_clip)
        return per_clip.mean()

    def stage_stats(self, stage, stage_loss):
        """Loss and L_rec; OA and AA only at test (clusters exist only then)."""
        test = stage == sb.Stage.TEST
        stats = self.counts.summarize(
            self.test_mapping() if test else torch.arange(self.n_outputs())
        )
        result = {"loss": stage_loss, "L_rec": stats["L_rec"]}
        if test:
            result.update(OA=stats["OA"], AA=stats["AA"])
        return result

    def test_mapping(self):
        """Class of each cluster (majority of its training clips; -1: empty)."""
        return self.cluster_classes

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the best checkpoint, then clusters the training clips."""
        super().on_evaluate_start(max_key=max_key, min_key=min_key)
        self.fit_clusters(self._mapping_set, self._mapping_loader_kwargs)

    @torch.no_grad()
    def fit_clusters(self, dataset, loader_kwargs=None):
        """K-means on the embeddings of ``dataset``; names clusters by majority.

        Arguments
        ---------
        dataset : Dataset
            Labelled clips (the training clips, read whole).
        loader_kwargs : dict, optional
            DataLoader options.
        """
        loader = self.make_dataloader(
            dataset, stage=sb.Stage.TEST, ckpt_prefix=None, **dict(loader_kwargs or {})
        )
        self.modules.eval()
        embeddings, labels = [], []
        for batch in tqdm(
            loader, desc="embedding training clips", disable=self.noprogressbar
        ):
            feats, lens = self.features(batch, sb.Stage.TEST)
            embeddings.append(self.modules.model.embed(feats, lens).cpu())
            labels.append(batch.label_encoded.data.reshape(-1).cpu())
        embeddings, labels = torch.cat(embeddings), torch.cat(labels)
        generator = torch.Generator().manual_seed(self.hparams.seed)
        self.centroids = kmeans(embeddings, self.hparams.n_clusters, generator)
        counts = AssignmentCounts(len(self.class_names), self.hparams.n_clusters)
        clusters = torch.cdist(embeddings, self.centroids).argmin(dim=1)
        counts.append(labels, clusters, torch.zeros(len(labels)))
        self.cluster_classes = majority_mapping(counts.counts)
        logger.info(
            "K-means: %d clusters of %d training clips",
            self.hparams.n_clusters,
            len(labels),
        )
