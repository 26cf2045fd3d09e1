"""The paper's baseline models, trained and scored like the prototypes.

* :class:`TemporalConvClassifier`: the paper's *direct classification*
  (the authors' 2-D CNN, max over time, MLP; 123,193 parameters at 33
  classes);
* :class:`EcapaClassifier`: SpeechBrain's own ECAPA-TDNN lobe with its
  cosine classifier, trained from scratch with the additive angular margin
  loss of SpeechBrain's speaker recipes (:class:`AngularMarginLoss`);
* :class:`ConvAutoencoder`: the authors' convolutional autoencoder without
  skips (155,425 parameters), whose time-averaged innermost feature maps
  :func:`kmeans` clusters (the paper's Table 2 protocol).

:mod:`speechbrain_protos.baseline_brains` trains them on the same
manifests, front end, augmentation and metrics as
:class:`~speechbrain_protos.brain.PrototypeBrain`.

Authors
 * speechbrain-protos developers 2026
"""

import torch
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper

from speechbrain_protos.lengths import frame_counts, frame_mask
from speechbrain_protos.precision import full_precision
from speechbrain_protos.prototype_init import kmeans_plus_plus


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
