"""Objectives: hand-computed values, which prototype each term uses."""

import math

import pytest
import torch

from speechbrain_protos.losses import (
    PrototypeObjective,
    chosen_errors,
    clustering_loss,
    log_posteriors,
    prototype_cross_entropy,
    reconstruction_loss,
    supervised_loss,
)

# Part of the smoke subset of make check-latest and make check-oldest.
pytestmark = pytest.mark.smoke

ERRORS = torch.tensor([[1.0, 2.0, 3.0], [2.0, 1.0, 1.0]])
TARGETS = torch.tensor([0, 2])


def test_cross_entropy_matches_hand_computation():
    beta = 0.5
    first = -math.log(
        math.exp(-0.5) / (math.exp(-0.5) + math.exp(-1.0) + math.exp(-1.5))
    )
    second = -math.log(
        math.exp(-0.5) / (math.exp(-1.0) + math.exp(-0.5) + math.exp(-0.5))
    )
    per_clip = prototype_cross_entropy(ERRORS, TARGETS, beta, reduction="batch")
    torch.testing.assert_close(per_clip, torch.tensor([first, second]))
    mean = prototype_cross_entropy(ERRORS, TARGETS.view(2, 1), torch.tensor(beta))
    assert mean.item() == pytest.approx((first + second) / 2, rel=1e-6)
    assert prototype_cross_entropy(
        ERRORS, TARGETS, beta, reduction="sum"
    ).item() == pytest.approx(first + second, rel=1e-6)


def test_supervised_loss_uses_the_labels_prototype():
    # The label's prototype (0) is the worst; its error is still the one used.
    errors = torch.tensor([[0.9, 0.1, 0.2]], requires_grad=True)
    loss = supervised_loss(errors, torch.tensor([0]), beta=1.0, lambda_ce=0.0)
    assert loss.item() == pytest.approx(0.9)
    loss.backward()
    assert errors.grad.tolist() == [[1.0, 0.0, 0.0]]
    with_ce = supervised_loss(errors, torch.tensor([0]), beta=1.0, lambda_ce=0.01)
    ce = prototype_cross_entropy(errors, torch.tensor([0]), beta=1.0)
    assert with_ce.item() == pytest.approx(0.9 + 0.01 * ce.item())


def test_cross_entropy_trains_beta():
    beta_raw = torch.tensor(-4.0, requires_grad=True)
    beta = torch.nn.functional.softplus(beta_raw)
    prototype_cross_entropy(ERRORS, torch.tensor([0, 1]), beta).backward()
    assert beta_raw.grad is not None and beta_raw.grad < 0  # correct: sharpen


def test_clustering_loss_takes_the_best_prototype():
    errors = ERRORS.clone().requires_grad_()
    loss = clustering_loss(errors)
    assert loss.item() == pytest.approx(1.0)
    loss.backward()
    assert errors.grad[0].tolist() == [0.5, 0.0, 0.0]
    assert errors.grad[1].sum().item() == pytest.approx(0.5)


def test_log_posteriors_favour_the_smallest_error():
    probs = log_posteriors(ERRORS, beta=3.0).exp()
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2))
    assert probs[0].argmax() == 0


def test_reconstruction_loss_masks_padding_per_clip():
    targets = torch.zeros(2, 4, 3)
    predictions = torch.full((2, 4, 3), 2.0)
    predictions[1, :2] = 1.0
    predictions[1, 2:] = 100.0  # padding
    lengths = torch.tensor([1.0, 0.5])
    per_clip = reconstruction_loss(predictions, targets, lengths, reduction="batch")
    assert per_clip.tolist() == [4.0, 1.0]
    assert reconstruction_loss(predictions, targets, lengths).item() == pytest.approx(
        2.5
    )
    with pytest.raises(ValueError, match="batch, frames, bins"):
        reconstruction_loss(predictions, targets[:, :3])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        reconstruction_loss(predictions, targets, torch.tensor([1.0, -1.0]))


def test_objective_modes():
    supervised = PrototypeObjective("supervised", lambda_ce=0.01)
    loss, parts = supervised(ERRORS, 1.0, TARGETS)
    assert parts["rec"].item() == pytest.approx(1.0)  # (1 + 1) / 2
    assert loss.item() == pytest.approx(1.0 + 0.01 * parts["ce"].item())
    assert parts["choice"].tolist() == [0, 2]
    loss, parts = PrototypeObjective("unsupervised")(ERRORS, 1.0)
    assert loss.item() == pytest.approx(1.0) and "ce" not in parts
    with pytest.raises(ValueError, match="targets"):
        supervised(ERRORS, 1.0)
    with pytest.raises(ValueError, match="mode"):
        PrototypeObjective("semi")
    with pytest.raises(ValueError, match="one target per clip"):
        chosen_errors(ERRORS, torch.tensor([0]))
    with pytest.raises(ValueError, match="reduction"):
        clustering_loss(ERRORS, reduction="max")


def test_ce_weight_zero_leaves_beta_in_the_graph_with_no_gradient():
    beta_raw = torch.tensor(3.0, requires_grad=True)
    beta = torch.nn.functional.softplus(beta_raw)
    objective = PrototypeObjective("supervised", lambda_ce=0.5)
    loss, parts = objective(ERRORS, beta, TARGETS, ce_weight=0.0)
    assert loss.item() == pytest.approx(parts["rec"].item())
    loss.backward()
    assert beta_raw.grad is not None and beta_raw.grad.item() == 0.0
