"""OA, AA, L_rec, cluster naming and the confusion-matrix files."""

import csv
import math

import pytest
import torch

from speechbrain_protos import metrics
from speechbrain_protos.metrics import (
    AssignmentCounts,
    class_accuracy,
    confusion_matrix,
    majority_mapping,
    write_confusion_matrix,
)


def test_supervised_summary_by_hand():
    stats = AssignmentCounts(n_classes=3, n_prototypes=3)
    # class 0: 3 clips, 2 right; class 1: 1 clip, right; class 2: no clip.
    stats.append(
        torch.tensor([0, 0, 0, 1]),
        torch.tensor([0, 0, 1, 1]),
        torch.tensor([0.001, 0.002, 0.003, 0.002]),
    )
    summary = stats.summarize(torch.arange(3))
    assert summary["OA"] == pytest.approx(75.0)
    assert summary["AA"] == pytest.approx((200 / 3 + 100) / 2)  # absent class ignored
    assert summary["L_rec"] == pytest.approx(2.0)  # 1e3 x mean error


def test_clusters_are_named_by_their_majority_class():
    counts = torch.tensor([[5, 0, 1, 0], [1, 4, 0, 0], [0, 3, 0, 0]])
    mapping = majority_mapping(counts)
    assert mapping.tolist() == [0, 1, 0, -1]
    confusion = confusion_matrix(counts, mapping)
    assert confusion.tolist() == [[6, 0, 0], [1, 4, 0], [0, 3, 0]]
    assert class_accuracy(counts, confusion).tolist() == pytest.approx(
        [100.0, 80.0, 0.0]
    )


def test_clips_of_unnamed_clusters_count_as_errors():
    stats = AssignmentCounts(n_classes=2, n_prototypes=2)
    stats.append(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.zeros(2))
    summary = stats.summarize(torch.tensor([0, -1]))
    assert summary["OA"] == pytest.approx(50.0)


def test_merge_is_a_no_op_without_distributed():
    stats = AssignmentCounts(2, 2)
    stats.append(torch.tensor([1]), torch.tensor([0]), torch.tensor([0.5]))
    stats.merge_across_processes()
    assert stats.counts.tolist() == [[0, 0], [1, 0]] and int(stats.n_clips) == 1
    assert stats.prototype_counts().tolist() == [1, 0]


def test_append_copies_nothing_to_the_host():
    """Sums stay where the batches are: meta tensors (no data) go through."""
    stats = AssignmentCounts(2, 3, device="meta")
    labels = torch.zeros(4, dtype=torch.long, device="meta")
    stats.append(labels, labels, torch.zeros(4, device="meta"))
    assert stats.n_clips == 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_append_never_waits_for_the_gpu():
    stats = AssignmentCounts(2, 3, device="cuda")
    targets = torch.tensor([0, 1, 1], device="cuda")
    choices = torch.tensor([2, 0, 0], device="cuda")
    errors = torch.tensor([0.001, 0.002, 0.003], device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        stats.append(targets, choices, errors)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert stats.counts.tolist() == [[0, 0, 1], [2, 0, 0]]
    assert stats.summarize(torch.tensor([1, 0, 0]))["L_rec"] == pytest.approx(2.0)


def test_confusion_files(tmp_path):
    csv_path, png_path = write_confusion_matrix(
        torch.tensor([[2, 1], [0, 3]]), ["Strings/Viola", "Winds/Flute"], tmp_path
    )
    rows = list(csv.reader(open(csv_path, encoding="utf-8")))
    assert rows == [
        ["true \\ predicted", "Strings/Viola", "Winds/Flute"],
        ["Strings/Viola", "2", "1"],
        ["Winds/Flute", "0", "3"],
    ]
    with open(png_path, "rb") as fin:
        assert fin.read(8) == b"\x89PNG\r\n\x1a\n"


# ---- Clustering metrics ----------------------------------------------------------
def contingency(classes, clusters):
    counts = torch.zeros(max(classes) + 1, max(clusters) + 1, dtype=torch.long)
    for label, cluster in zip(classes, clusters):
        counts[label, cluster] += 1
    return counts


def test_nmi_and_ari_against_hand_computed_values():
    """classes 000111, clusters 001122: contingency [[2, 1, 0], [0, 1, 2]].
    MI = 2/6 ln 2 * 2 = (2/3) ln 2; H(classes) = ln 2, H(clusters) = ln 3;
    NMI = MI / ((ln 2 + ln 3) / 2). Pairs together 2, per class 3 + 3 = 6,
    per cluster 1 + 1 + 1 = 3, of 15: expected 6 * 3 / 15 = 1.2, best 4.5;
    ARI = (2 - 1.2) / (4.5 - 1.2)."""
    counts = contingency([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    nmi = (2 / 3) * math.log(2) / ((math.log(2) + math.log(3)) / 2)
    assert metrics.normalized_mutual_information(counts) == pytest.approx(nmi)
    assert metrics.adjusted_rand_index(counts) == pytest.approx(0.8 / 3.3)
    assert metrics.cluster_usage(counts) == {
        "used": 3,
        "largest": pytest.approx(100 / 3),
        "purity": pytest.approx(100 * 5 / 6),
    }


def test_clustering_metrics_of_perfect_random_and_degenerate_partitions():
    perfect = contingency([0, 0, 1, 1, 2], [2, 2, 0, 0, 1])  # classes renamed
    assert metrics.normalized_mutual_information(perfect) == pytest.approx(1.0)
    assert metrics.adjusted_rand_index(perfect) == pytest.approx(1.0)
    crossed = contingency([0, 0, 1, 1], [0, 1, 0, 1])  # independent of classes
    assert metrics.normalized_mutual_information(crossed) == pytest.approx(0.0)
    assert metrics.adjusted_rand_index(crossed) == pytest.approx(-0.5)
    one_cluster = contingency([0, 1, 2, 0], [0, 0, 0, 0])
    assert metrics.normalized_mutual_information(one_cluster) == 0.0
    assert metrics.adjusted_rand_index(one_cluster) == pytest.approx(0.0)
    assert metrics.cluster_usage(one_cluster)["largest"] == 100.0
    # Transposing swaps the roles of classes and clusters: both are symmetric.
    counts = contingency([0, 0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 2, 2])
    for score in (metrics.normalized_mutual_information, metrics.adjusted_rand_index):
        assert score(counts) == pytest.approx(score(counts.T))
