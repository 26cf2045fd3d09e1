"""Accuracy metrics of the paper: OA, AA, L_rec, cluster-to-class mapping.

Clips are counted in a matrix ``counts[class, prototype]`` of which
prototype each clip of each class chose. A mapping from prototypes to classes
turns it into a class confusion matrix: identity in supervised mode (prototype
k is class k), and in unsupervised mode the majority class of each
prototype's *training* members (:func:`majority_mapping`), applied unchanged
to validation and test clips. A prototype no training clip chose maps to -1
and its clips count as errors.

* OA: share of clips whose predicted class is right, in percent.
* AA: mean over the classes present of each class's accuracy, in percent.
* L_rec: mean reconstruction error of the chosen prototypes, reported as
  10^3 x the mean squared error per bin, the unit of the paper's tables.

Authors
 * speechbrain-protos developers 2026
"""

import csv
import json
import os

import torch
import torch.distributed as dist

from speechbrain_protos.model_folder import RESULTS_FILE

REC_UNIT = 1e3  # the paper's tables report 10^3 x the per-bin MSE


def majority_mapping(counts):
    """Class of each prototype: the most frequent class among its clips.

    Arguments
    ---------
    counts : torch.Tensor
        ``[n_classes, K]`` assignment counts.

    Returns
    -------
    torch.Tensor
        Long ``[K]`` class per prototype; -1 where no clip chose it.

    Example
    -------
    >>> majority_mapping(torch.tensor([[3, 0, 0], [1, 2, 0]]))
    tensor([ 0,  1, -1])
    """
    mapping = counts.argmax(dim=0)
    return torch.where(counts.sum(dim=0) > 0, mapping, torch.full_like(mapping, -1))


def confusion_matrix(counts, mapping):
    """Class confusion ``[n_classes, n_classes]`` from prototype counts.

    Arguments
    ---------
    counts : torch.Tensor
        ``[n_classes, K]`` assignment counts.
    mapping : torch.Tensor
        Long ``[K]`` class of each prototype (-1: none).

    Returns
    -------
    torch.Tensor
        ``confusion[true, predicted]``; clips of unmapped prototypes appear
        in no column (they are errors).

    Example
    -------
    >>> confusion_matrix(torch.tensor([[3, 1], [0, 2]]), torch.tensor([1, 1]))
    tensor([[0, 4],
            [0, 2]])
    """
    n_classes = counts.shape[0]
    confusion = torch.zeros(n_classes, n_classes, dtype=counts.dtype)
    mapped = mapping >= 0
    confusion.index_add_(1, mapping[mapped], counts[:, mapped])
    return confusion


def class_accuracy(counts, confusion):
    """Per-class accuracy in percent; NaN for classes with no clip.

    Example
    -------
    >>> counts = torch.tensor([[2, 2], [0, 3], [0, 0]])
    >>> class_accuracy(counts, confusion_matrix(counts, torch.tensor([0, 1])))
    tensor([ 50., 100.,  nan], dtype=torch.float64)
    """
    totals = counts.sum(dim=1).to(torch.float64)
    correct = confusion.diagonal().to(torch.float64)
    return torch.where(totals > 0, 100.0 * correct / totals.clamp_min(1), float("nan"))


def _entropy(counts):
    """Entropy (nats) of a distribution given by counts (float64)."""
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


def normalized_mutual_information(counts):
    """NMI of a contingency table ``[classes, clusters]`` of clip counts.

    Mutual information over the mean of the two entropies (the arithmetic
    normalisation, scikit-learn's default): 1 when the clusters are the
    classes up to renaming, 0 when they are independent of them; 1 when
    both sides have a single value.

    Example
    -------
    >>> counts = torch.tensor([[2, 1, 0], [0, 1, 2]])  # 6 clips
    >>> round(normalized_mutual_information(counts), 4)
    0.5158
    >>> normalized_mutual_information(torch.tensor([[1, 1], [1, 1]]))
    0.0
    """
    counts = counts.to(torch.float64)
    total = counts.sum()
    if total == 0:
        return float("nan")
    rows, cols = counts.sum(dim=1), counts.sum(dim=0)
    joint = counts / total
    outer = (rows[:, None] / total) * (cols[None, :] / total)
    nonzero = joint > 0
    mutual = float((joint[nonzero] * (joint[nonzero] / outer[nonzero]).log()).sum())
    mean_entropy = (_entropy(rows) + _entropy(cols)) / 2
    if mean_entropy == 0:
        return 1.0
    return max(mutual, 0.0) / mean_entropy


def adjusted_rand_index(counts):
    """ARI of a contingency table ``[classes, clusters]`` of clip counts.

    The Rand index corrected for chance (Hubert and Arabie): 1 for the same
    partition, about 0 for a random one, negative below chance.

    Example
    -------
    >>> round(adjusted_rand_index(torch.tensor([[2, 1, 0], [0, 1, 2]])), 4)
    0.2424
    >>> round(adjusted_rand_index(torch.tensor([[1, 1], [1, 1]])), 4)
    -0.5
    """
    counts = counts.to(torch.float64)
    total = float(counts.sum())

    def pairs(values):
        return float((values * (values - 1) / 2).sum())

    together = pairs(counts)
    rows, cols = pairs(counts.sum(dim=1)), pairs(counts.sum(dim=0))
    all_pairs = total * (total - 1) / 2
    if all_pairs == 0:
        return float("nan")
    expected = rows * cols / all_pairs
    best = (rows + cols) / 2
    if best == expected:
        return 1.0
    return (together - expected) / (best - expected)


def cluster_usage(counts):
    """How clips spread over clusters, from ``[classes, clusters]`` counts.

    Returns
    -------
    dict
        ``used``: clusters won by at least one clip; ``largest``: the
        largest cluster's share of the clips (%); ``purity``: clips of their
        cluster's majority class (%).

    Example
    -------
    >>> cluster_usage(torch.tensor([[3, 0, 0], [1, 0, 4]]))
    {'used': 2, 'largest': 50.0, 'purity': 87.5}
    """
    sizes = counts.sum(dim=0)
    total = max(int(sizes.sum()), 1)
    return {
        "used": int((sizes > 0).sum()),
        "largest": 100.0 * int(sizes.max()) / total,
        "purity": 100.0 * int(counts.max(dim=0).values.sum()) / total,
    }


def label_accuracy(class_names, true_labels, predicted_labels):
    """Accuracy of predicted class names against true ones.

    Arguments
    ---------
    class_names : list of str
        The model's classes (confusion order).
    true_labels, predicted_labels : list of str
        One per clip.

    Returns
    -------
    dict
        ``OA`` and ``AA`` (percent; AA over the classes that have clips),
        ``per_class`` {label: (accuracy, clips)} and ``confusion`` (long
        ``[C, C]``, rows true).

    Example
    -------
    >>> scores = label_accuracy(["a", "b"], ["a", "a", "b"], ["a", "b", "b"])
    >>> scores["OA"], scores["AA"], scores["per_class"]["a"]
    (66.66666666666667, 75.0, (50.0, 2))
    """
    confusion = torch.zeros(len(class_names), len(class_names), dtype=torch.long)
    for label, predicted in zip(true_labels, predicted_labels):
        confusion[class_names.index(label), class_names.index(predicted)] += 1
    clips = confusion.sum(dim=1)
    per_class = class_accuracy(confusion, confusion)  # NaN: no clip
    tested = clips > 0
    return {
        "OA": 100.0 * float(confusion.diag().sum()) / max(len(true_labels), 1),
        "AA": float(per_class[tested].mean()) if tested.any() else float("nan"),
        "per_class": {
            name: (float(per_class[c]), int(clips[c]))
            for c, name in enumerate(class_names)
            if tested[c]
        },
        "confusion": confusion,
    }


class AssignmentCounts:
    """Accumulates which prototype each clip chose, and its error.

    The sums stay on ``device`` (the model's), so adding a batch never waits
    for a GPU; :attr:`counts` and :meth:`summarize` read them back.

    Arguments
    ---------
    n_classes : int
        Number of classes.
    n_prototypes : int
        Number of prototypes K.
    device : str or torch.device
        Where the batches' tensors live.

    Example
    -------
    >>> stats = AssignmentCounts(n_classes=2, n_prototypes=2)
    >>> stats.append(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1]),
    ...              torch.tensor([0.002, 0.004, 0.003]))
    >>> summary = stats.summarize(torch.tensor([0, 1]))
    >>> round(summary["OA"], 2), summary["AA"], round(summary["L_rec"], 3)
    (66.67, 75.0, 3.0)
    """

    def __init__(self, n_classes, n_prototypes, device="cpu"):
        self._counts = torch.zeros(
            n_classes, n_prototypes, dtype=torch.long, device=device
        )
        self._rec_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.n_clips = 0

    def append(self, targets, choices, rec_errors):
        """Adds a batch: classes ``[B]``, chosen prototypes ``[B]`` and the
        reconstruction errors of those choices ``[B]``.

        No host synchronisation: ``index_add_`` instead of ``bincount``
        (which reads the largest index back on CUDA), no ``.cpu()``.
        """
        device = self._counts.device
        targets = targets.detach().reshape(-1).to(device, torch.long)
        choices = choices.detach().reshape(-1).to(device, torch.long)
        flat = targets * self._counts.shape[1] + choices
        self._counts.view(-1).index_add_(0, flat, torch.ones_like(flat))
        self._rec_sum += rec_errors.detach().to(device, torch.float64).sum()
        self.n_clips += targets.numel()

    @property
    def counts(self):
        """``[n_classes, K]`` clips of each class per chosen prototype (CPU)."""
        return self._counts.cpu()

    def merge_across_processes(self):
        """Sums the counts of every DDP process (no-op when not distributed).

        The sums are reduced where they live (CUDA for the NCCL backend).
        """
        if not (dist.is_available() and dist.is_initialized()):
            return
        n_clips = torch.tensor(self.n_clips, device=self._counts.device)
        for tensor in (self._counts, self._rec_sum, n_clips):
            dist.all_reduce(tensor)
        self.n_clips = int(n_clips)

    def prototype_counts(self):
        """How many clips chose each prototype, ``[K]`` (CPU)."""
        return self.counts.sum(dim=0)

    def clustering(self):
        """NMI, ARI and cluster usage of the prototypes the clips chose
        (see :func:`normalized_mutual_information`,
        :func:`adjusted_rand_index`, :func:`cluster_usage`)."""
        counts = self.counts
        return {
            "NMI": normalized_mutual_information(counts),
            "ARI": adjusted_rand_index(counts),
            **cluster_usage(counts),
        }

    def summarize(self, mapping):
        """OA, AA (percent) and L_rec (10^3 x MSE) under a mapping."""
        counts = self.counts
        confusion = confusion_matrix(counts, mapping)
        per_class = class_accuracy(counts, confusion)
        total = max(self.n_clips, 1)
        present = ~per_class.isnan()
        return {
            "OA": 100.0 * float(confusion.diagonal().sum()) / total,
            "AA": float(per_class[present].mean()) if present.any() else 0.0,
            "L_rec": REC_UNIT * float(self._rec_sum) / total,
        }


def write_confusion_matrix(confusion, class_names, folder, title="Confusion matrix"):
    """Writes ``confusion_matrix.csv`` and ``confusion_matrix.png``.

    Arguments
    ---------
    confusion : torch.Tensor
        ``[n_classes, n_classes]`` counts, rows true, columns predicted.
    class_names : list of str
        Name of each class.
    folder : str
        Output folder (created if needed).
    title : str
        Title of the figure.

    Returns
    -------
    tuple of str
        Paths of the CSV and PNG files.

    Example
    -------
    >>> folder = getfixture("tmpdir")
    >>> csv_path, png_path = write_confusion_matrix(
    ...     torch.tensor([[3, 1], [0, 2]]), ["cello", "flute"], folder)
    >>> open(csv_path).read().splitlines()[1]
    'cello,3,1'
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    os.makedirs(folder, exist_ok=True)
    csv_path = os.path.join(folder, "confusion_matrix.csv")
    png_path = os.path.join(folder, "confusion_matrix.png")
    with open(csv_path, "w", newline="", encoding="utf-8") as fout:
        writer = csv.writer(fout)
        writer.writerow(["true \\ predicted", *class_names])
        for name, row in zip(class_names, confusion.tolist()):
            writer.writerow([name, *row])
    size = max(4.0, 0.32 * len(class_names) + 2.0)
    figure, axes = pyplot.subplots(figsize=(size, size))
    totals = confusion.sum(dim=1, keepdim=True).clamp_min(1)
    image = axes.imshow((confusion / totals).numpy(), cmap="magma", vmin=0, vmax=1)
    axes.set_xticks(range(len(class_names)), class_names, rotation=90, fontsize=7)
    axes.set_yticks(range(len(class_names)), class_names, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of the true class")
    figure.tight_layout()
    figure.savefig(png_path, dpi=120)
    pyplot.close(figure)
    return csv_path, png_path


def write_test_report(folder, stats, counts, mapping, class_names, checkpoint_meta):
    """Writes ``test_results.json`` and the confusion matrix of a test pass.

    Arguments
    ---------
    folder : str
        Output folder.
    stats : dict
        ``OA``, ``AA``, ``L_rec`` (None for models that reconstruct nothing)
        and ``loss``.
    counts : AssignmentCounts
        The test clips' choices.
    mapping : torch.Tensor
        Long ``[K]`` class of each prototype, cluster or output (-1: none).
    class_names : list of str
        Name of each class.
    checkpoint_meta : dict
        Metadata of the tested checkpoint (``epoch`` and ``stage`` are kept).

    Returns
    -------
    dict
        What ``test_results.json`` holds.

    Example
    -------
    >>> counts = AssignmentCounts(n_classes=2, n_prototypes=2)
    >>> counts.append(torch.tensor([0, 1]), torch.tensor([0, 0]), torch.zeros(2))
    >>> stats = {"loss": 0.1, **counts.summarize(torch.tensor([0, 1]))}
    >>> report = write_test_report(str(getfixture("tmpdir")), stats, counts,
    ...                            torch.tensor([0, 1]), ["a", "b"], {"epoch": 3})
    >>> report["OA"], report["per_class"]["b"]
    (50.0, {'accuracy': 0.0, 'clips': 1})
    """
    confusion = confusion_matrix(counts.counts, mapping)
    per_class = class_accuracy(counts.counts, confusion)
    clips = counts.counts.sum(dim=1)
    report = {
        **stats,
        "n_clips": int(counts.n_clips),
        "checkpoint": {
            "epoch": checkpoint_meta.get("epoch"),
            "stage": checkpoint_meta.get("stage"),
        },
        "per_class": {
            name: {"accuracy": None if acc != acc else acc, "clips": int(n)}
            for name, acc, n in zip(class_names, per_class.tolist(), clips)
        },
        "L_rec_unit": "1e3 x mean squared error per bin (the paper's unit)",
    }
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, RESULTS_FILE), "w", encoding="utf-8") as fout:
        json.dump(report, fout, indent=1)
    write_confusion_matrix(
        confusion,
        class_names,
        folder,
        title=f"Test OA {stats['OA']:.1f}%  AA {stats['AA']:.1f}%",
    )
    return report
