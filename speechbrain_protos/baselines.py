"""Baselines of the paper's tables, trained and scored like the prototypes.

Every baseline reads the same manifests, the same log-mel front end and the
same augmentation as :class:`~speechbrain_protos.brain.PrototypeBrain`, and
writes the same ``test_results.json`` (OA, AA, per-class accuracy) and
confusion matrix, so the tables of ``bench/accuracy.py`` compare like with
like:

* :class:`TemporalConvClassifier`: the paper's *direct classification*
  (the authors' 2-D CNN, max over time, MLP; 123,193 parameters at 33
  classes), trained with cross-entropy by :class:`ClassifierBrain`;
* :class:`EcapaClassifier`: SpeechBrain's own ECAPA-TDNN lobe with its
  cosine classifier, trained from scratch with the additive angular margin
  loss of SpeechBrain's speaker recipes (:class:`AngularMarginLoss`), also by
  :class:`ClassifierBrain`;
* :class:`ConvAutoencoder`: the authors' convolutional autoencoder without
  skips (155,425 parameters), trained to reconstruct log-mels by
  :class:`AutoencoderKMeansBrain`, which then clusters the time-averaged
  innermost feature maps of the training clips with K-means and names each
  cluster by its majority class (the paper's Table 2 protocol).

A recipe switches to a baseline with ``brain_class`` in its YAML (see
``hparams/direct_classification.yaml``, ``ecapa_tdnn.yaml`` and
``autoencoder_kmeans.yaml`` of each recipe).

Authors
 * speechbrain-protos developers 2026
"""

import logging

import speechbrain as sb
import torch
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper
from speechbrain.utils.distributed import if_main_process
from tqdm import tqdm

from speechbrain_protos.brain import DeviceMixin, TestedCheckpointMixin
from speechbrain_protos.data.dataio import batch_features
from speechbrain_protos.lengths import frame_counts, frame_mask
from speechbrain_protos.metrics import (
    AssignmentCounts,
    majority_mapping,
    write_test_report,
)
from speechbrain_protos.precision import full_precision
from speechbrain_protos.prototype_init import kmeans_plus_plus

logger = logging.getLogger(__name__)


def pad_frames(feats, multiple):
    """Pads ``[B, C, F, T]`` on the right of T to a multiple of ``multiple``.

    Reflect padding as the authors' code does, replicate padding where the
    clip is too short to reflect.

    Example
    -------
    >>> pad_frames(torch.arange(5.0).view(1, 1, 1, 5), 4)
    tensor([[[[0., 1., 2., 3., 4., 3., 2., 1.]]]])
    >>> pad_frames(torch.ones(1, 1, 1, 2), 8).shape
    torch.Size([1, 1, 1, 8])
    """
    missing = -feats.shape[-1] % multiple
    if missing == 0:
        return feats
    mode = "reflect" if missing < feats.shape[-1] else "replicate"
    return torch.nn.functional.pad(feats, (0, missing, 0, 0), mode=mode)


def pooled_frame_mask(lens, n_frames, n_pooled, device):
    """Which pooled frames hold signal, ``[B, n_pooled]`` (at least one).

    Arguments
    ---------
    lens : torch.Tensor or None
        ``[B]`` relative lengths (None: all full).
    n_frames : int
        Frames before pooling.
    n_pooled : int
        Frames after pooling (``ceil(n_frames / stride)``).
    device : torch.device
        Device of the mask.

    Example
    -------
    >>> pooled_frame_mask(torch.tensor([1.0, 0.25]), 16, 4, "cpu")
    tensor([[ True,  True,  True,  True],
            [ True, False, False, False]])
    """
    if lens is None:
        return torch.ones(1, n_pooled, dtype=torch.bool, device=device)
    stride = -(-n_frames // n_pooled)
    pooled = -(-frame_counts(lens.to(device), n_frames) // stride)
    return torch.arange(n_pooled, device=device) < pooled[:, None]


class TemporalConvClassifier(torch.nn.Module):
    """The paper's direct classification baseline (the authors' layout).

    Four blocks of [3x3 conv (reflect padding), ReLU, BatchNorm, 2x2 conv of
    stride 2, ReLU, BatchNorm], the maximum over time of the last feature
    map (padded frames excluded), then an MLP to the class scores.

    Arguments
    ---------
    n_mels : int
        Mel bands of the input (a multiple of 16).
    n_classes : int
        Number of classes.
    channels : sequence of int
        Channels of each block.
    hidden : sequence of int
        Hidden sizes of the MLP.

    Example
    -------
    >>> model = TemporalConvClassifier(n_mels=128, n_classes=33)
    >>> sum(p.numel() for p in model.parameters())  # the authors' count
    123193
    >>> model(torch.rand(2, 50, 128), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 33])
    """

    def __init__(self, n_mels, n_classes, channels=(8, 16, 32, 64), hidden=(128, 64)):
        super().__init__()
        self.n_classes = n_classes
        self.stride = 2 ** len(channels)
        if n_mels % self.stride:
            raise ValueError(
                f"n_mels must be a multiple of {self.stride}; got {n_mels}"
            )
        layers, previous = [], 1
        for width in channels:
            layers += [
                torch.nn.Conv2d(previous, width, 3, padding=1, padding_mode="reflect"),
                torch.nn.ReLU(),
                torch.nn.BatchNorm2d(width),
                torch.nn.Conv2d(width, width, 2, stride=2),
                torch.nn.ReLU(),
                torch.nn.BatchNorm2d(width),
            ]
            previous = width
        self.encoder = torch.nn.Sequential(*layers)
        mlp, size = [], channels[-1] * n_mels // self.stride
        for width in hidden:
            mlp += [
                torch.nn.Linear(size, width),
                torch.nn.ReLU(),
                torch.nn.BatchNorm1d(width),
            ]
            size = width
        mlp.append(torch.nn.Linear(size, n_classes))
        self.classifier = torch.nn.Sequential(*mlp)

    def forward(self, feats, lens=None):
        """Class scores ``[B, n_classes]`` of log-mels ``[B, T, n_mels]``."""
        n_frames = feats.shape[1]
        hidden = self.encoder(
            pad_frames(feats.transpose(1, 2).unsqueeze(1), self.stride)
        )
        mask = pooled_frame_mask(lens, n_frames, hidden.shape[-1], feats.device)
        hidden = hidden.masked_fill(~mask[:, None, None, :], float("-inf"))
        return self.classifier(hidden.amax(dim=-1).flatten(1))


class EcapaClassifier(torch.nn.Module):
    """SpeechBrain's ECAPA-TDNN lobe and cosine classifier, on our log-mels.

    Features are mean-normalised per clip over its valid frames (as
    SpeechBrain's speaker recipes do with ``InputNormalization``), embedded
    by :class:`speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN` and scored by
    its ``Classifier`` (cosine similarity to one weight vector per class).

    Arguments
    ---------
    n_mels : int
        Mel bands of the input.
    n_classes : int
        Number of classes.
    channels : list of int
        ECAPA-TDNN channels (the lobe's default: 512 x 4 and 1536).
    lin_neurons : int
        Embedding size.

    Example
    -------
    >>> model = EcapaClassifier(n_mels=40, n_classes=5, channels=[32, 32, 32, 32, 96])
    >>> scores = model(torch.rand(2, 30, 40), torch.tensor([1.0, 0.6]))
    >>> scores.shape, bool(scores.abs().max() <= 1.0 + 1e-5)
    (torch.Size([2, 5]), True)
    """

    def __init__(
        self,
        n_mels,
        n_classes,
        channels=(512, 512, 512, 512, 1536),
        lin_neurons=192,
    ):
        super().__init__()
        self.n_classes = n_classes
        self.embedding_model = ECAPA_TDNN(
            n_mels, channels=list(channels), lin_neurons=lin_neurons
        )
        self.classifier = Classifier(lin_neurons, out_neurons=n_classes)

    def forward(self, feats, lens=None):
        """Cosine scores ``[B, n_classes]`` of log-mels ``[B, T, n_mels]``."""
        if lens is None:
            lens = torch.ones(feats.shape[0], device=feats.device)
        n_frames = feats.shape[1]
        mask = frame_mask(frame_counts(lens, n_frames), n_frames)
        mask = mask.unsqueeze(-1).to(feats.dtype)
        mean = (feats * mask).sum(dim=1, keepdim=True) / mask.sum(dim=1, keepdim=True)
        embeddings = self.embedding_model((feats - mean) * mask, lens)
        return self.classifier(embeddings).squeeze(1)


class AngularMarginLoss(torch.nn.Module):
    """Additive angular margin softmax on cosine scores (SpeechBrain's).

    Arguments
    ---------
    margin : float
        Angular margin (SpeechBrain's ECAPA recipes: 0.2).
    scale : float
        Scale of the cosines (SpeechBrain's ECAPA recipes: 30).

    Example
    -------
    >>> loss = AngularMarginLoss()
    >>> scores = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    >>> bool(loss(scores, torch.tensor([0, 1])) < loss(scores, torch.tensor([1, 0])))
    True
    """

    def __init__(self, margin=0.2, scale=30.0):
        super().__init__()
        self.loss = LogSoftmaxWrapper(AdditiveAngularMargin(margin=margin, scale=scale))

    def forward(self, scores, targets):
        """Mean loss of ``[B, C]`` cosine scores against ``[B]`` classes."""
        return self.loss(scores.unsqueeze(1), targets.reshape(-1, 1))


class ConvAutoencoder(torch.nn.Module):
    """The authors' convolutional autoencoder (no skip connections).

    Encoder: a 5x5 convolution and LeakyReLU, then three times [2x2 max-pool,
    5x5 convolution, LeakyReLU] (32 channels); decoder: three times [5x5
    transposed convolution, x2 upsampling, LeakyReLU] and a last transposed
    convolution to one channel, squashed into [0, 1] like the log-mels.

    Arguments
    ---------
    channels : int
        Channels of every hidden layer.
    n_pools : int
        Max-pools in the encoder (upsamplings in the decoder).

    Example
    -------
    >>> model = ConvAutoencoder()
    >>> sum(p.numel() for p in model.parameters())  # the authors' count
    155425
    >>> feats = torch.rand(2, 21, 128)
    >>> model(feats).shape, model.embed(feats, torch.tensor([1.0, 0.5])).shape
    (torch.Size([2, 21, 128]), torch.Size([2, 512]))
    """

    def __init__(self, channels=32, n_pools=3):
        super().__init__()
        self.stride = 2**n_pools
        encoder = [torch.nn.Conv2d(1, channels, 5, padding=2), torch.nn.LeakyReLU()]
        decoder = []
        for _ in range(n_pools):
            encoder += [
                torch.nn.MaxPool2d(2),
                torch.nn.Conv2d(channels, channels, 5, padding=2),
                torch.nn.LeakyReLU(),
            ]
            decoder += [
                torch.nn.ConvTranspose2d(channels, channels, 5, padding=2),
                torch.nn.Upsample(scale_factor=2),
                torch.nn.LeakyReLU(),
            ]
        decoder.append(torch.nn.ConvTranspose2d(channels, 1, 5, padding=2))
        self.encoder = torch.nn.Sequential(*encoder)
        self.decoder = torch.nn.Sequential(*decoder)

    def encode(self, feats):
        """Innermost feature maps ``[B, C, n_mels / 8, ceil(T / 8)]``."""
        return self.encoder(pad_frames(feats.transpose(1, 2).unsqueeze(1), self.stride))

    def forward(self, feats):
        """Reconstruction in [0, 1], ``[B, T, n_mels]``, of log-mels."""
        decoded = full_precision(self.decoder(self.encode(feats)))
        squashed = 0.5 * (1.0 + torch.tanh(decoded))
        return squashed[:, 0, :, : feats.shape[1]].transpose(1, 2)

    def embed(self, feats, lens=None):
        """Innermost feature maps averaged over valid time, flattened ``[B, D]``."""
        latent = full_precision(self.encode(feats))
        mask = pooled_frame_mask(lens, feats.shape[1], latent.shape[-1], feats.device)
        mask = mask[:, None, None, :].to(latent.dtype)
        pooled = (latent * mask).sum(dim=-1) / mask.sum(dim=-1)
        return pooled.flatten(1)


def kmeans(points, n_clusters, generator, iterations=100):
    """Lloyd's K-means from k-means++ seeds.

    Arguments
    ---------
    points : torch.Tensor
        ``[N, D]`` points (N >= n_clusters).
    n_clusters : int
        Number of clusters.
    generator : torch.Generator
        Seeds the k-means++ draw.
    iterations : int
        Most Lloyd iterations (stops earlier when assignments settle).

    Returns
    -------
    torch.Tensor
        ``[n_clusters, D]`` centroids. A cluster that loses all its points
        keeps its last centroid.

    Example
    -------
    >>> points = torch.tensor([[0.0], [0.1], [5.0], [5.2]])
    >>> centroids = kmeans(points, 2, torch.Generator().manual_seed(0))
    >>> sorted(round(c, 2) for c in centroids.flatten().tolist())
    [0.05, 5.1]
    """
    points = points.double()
    centroids = points[kmeans_plus_plus(points, n_clusters, generator)].clone()
    assignment = None
    for _ in range(iterations):
        new_assignment = torch.cdist(points, centroids).argmin(dim=1)
        if assignment is not None and torch.equal(new_assignment, assignment):
            break
        assignment = new_assignment
        sums = torch.zeros_like(centroids).index_add_(0, assignment, points)
        sizes = torch.bincount(assignment, minlength=n_clusters)
        filled = sizes > 0
        centroids[filled] = sums[filled] / sizes[filled, None]
    return centroids.float()


class _BaselineBrain(TestedCheckpointMixin, DeviceMixin, sb.Brain):
    """What the baselines share: an epoch loop with a best-checkpoint key,
    OA/AA counts per stage, and the test report of the prototype models.

    Required hyperparameters: ``epoch_counter``, ``train_logger``,
    ``augmentation`` (may be null), ``dataloader_options``,
    ``test_dataloader_options``, ``output_folder``; modules
    ``compute_features`` and ``model``.
    """

    #: the checkpoint metadata key whose lowest value is tested
    best_key = "error"

    def __init__(
        self,
        modules=None,
        opt_class=None,
        hparams=None,
        run_opts=None,
        checkpointer=None,
        class_names=None,
    ):
        required = (
            "epoch_counter",
            "train_logger",
            "augmentation",
            "dataloader_options",
            "test_dataloader_options",
            "output_folder",
        )
        missing = [key for key in required if key not in (hparams or {})]
        missing += [
            key for key in ("compute_features", "model") if key not in (modules or {})
        ]
        if missing:
            raise ValueError(f"{type(self).__name__} is missing {missing}")
        if not class_names:
            raise ValueError(f"{type(self).__name__} needs the class names")
        super().__init__(modules, opt_class, hparams, run_opts, checkpointer)
        self.class_names = list(class_names)
        if self.checkpointer is not None:
            for name in ("model", "epoch_counter"):
                if name not in self.checkpointer.recoverables:
                    recoverable = (
                        getattr(self.hparams, name, None) or self.modules[name]
                    )
                    self.checkpointer.add_recoverable(name, recoverable)
        self.counts = None
        self.train_stats = {}
        self.test_stats = None
        self.test_checkpoint_meta = {}
        self._mapping_set = None
        self._mapping_loader_kwargs = {}

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

    def train_and_test(self, datasets):
        """Trains for the epoch budget, then tests the best checkpoint.

        Arguments
        ---------
        datasets : dict
            ``train``, ``train_eval``, ``valid`` and ``test`` from
            :func:`speechbrain_protos.data.dataio.dataio_prep`.
        """
        self.fit(
            self.hparams.epoch_counter,
            datasets["train"],
            datasets["valid"],
            train_loader_kwargs=dict(self.hparams.dataloader_options),
            valid_loader_kwargs=dict(self.hparams.test_dataloader_options),
        )
        self.evaluate(
            datasets["test"],
            min_key=self.best_key,
            test_loader_kwargs=dict(self.hparams.test_dataloader_options),
            mapping_set=datasets["train_eval"],
        )


class ClassifierBrain(_BaselineBrain):
    """Trains a classifier of log-mels (direct classification, ECAPA-TDNN).

    The model maps ``(feats [B, T, n_mels], lens [B])`` to class scores
    ``[B, C]``; ``compute_cost(scores, targets)`` is its loss (cross-entropy,
    or :class:`AngularMarginLoss`). The prediction is the best score. The
    checkpoint with the lowest validation error is tested.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not hasattr(self.hparams, "compute_cost"):
            raise ValueError("ClassifierBrain is missing compute_cost")
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        missing = [
            key for key in ("n_clusters", "seed") if not hasattr(self.hparams, key)
        ]
        if missing:
            raise ValueError(f"AutoencoderKMeansBrain is missing {missing}")
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
