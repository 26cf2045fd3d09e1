"""Objectives of the paper: L_rec, clustering, L_ce and their weighted sum.

Functions follow ``speechbrain.nnet.losses``: plain functions with a
``reduction`` argument (``"mean"`` over the batch, ``"batch"`` for one value
per clip, ``"sum"``). All but :func:`reconstruction_loss` take the error
matrix ``[B, K]`` that :class:`speechbrain_protos.lobes.PrototypeReconstructor`
returns, which already averages over each clip's valid frames only.

Authors
 * speechbrain-protos developers 2026
"""

import torch

from speechbrain_protos.lengths import check_relative_lengths, frame_counts, frame_mask

REDUCTIONS = ("mean", "batch", "sum")
OBJECTIVE_MODES = ("supervised", "unsupervised")


def _reduce(per_clip, reduction):
    if reduction == "mean":
        return per_clip.mean()
    if reduction == "sum":
        return per_clip.sum()
    if reduction == "batch":
        return per_clip
    raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}")


def _flat_targets(targets, batch_size):
    targets = targets.reshape(-1).long()
    if targets.shape[0] != batch_size:
        raise ValueError(
            f"expected one target per clip ({batch_size}); got {targets.shape[0]}"
        )
    return targets


def chosen_errors(errors, choice):
    """Error of each clip by its chosen prototype: ``errors[b, choice[b]]``.

    Arguments
    ---------
    errors : torch.Tensor
        ``[B, K]`` reconstruction errors.
    choice : torch.Tensor
        Prototype of each clip, ``[B]`` or ``[B, 1]``.

    Returns
    -------
    torch.Tensor
        ``[B]`` errors.

    Example
    -------
    >>> chosen_errors(torch.tensor([[0.3, 0.1], [0.5, 0.4]]), torch.tensor([0, 1]))
    tensor([0.3000, 0.4000])
    """
    choice = _flat_targets(choice, errors.shape[0])
    return errors.gather(1, choice.unsqueeze(1)).squeeze(1)


def reconstruction_loss(predictions, targets, length=None, reduction="mean"):
    """L_rec (eq. 6) between reconstructions and inputs, padding masked.

    Per clip: the mean of the squared error over its valid frames and all
    mel bins (the authors' code also divides by F).

    Arguments
    ---------
    predictions : torch.Tensor
        Reconstructions ``[B, T, F]``.
    targets : torch.Tensor
        Input features ``[B, T, F]``.
    length : torch.Tensor, optional
        Relative lengths ``[B]`` in (0, 1].
    reduction : str
        ``"mean"``, ``"batch"`` or ``"sum"``.

    Returns
    -------
    torch.Tensor
        The loss (``[B]`` for ``"batch"``).

    Example
    -------
    >>> targets = torch.zeros(2, 4, 3)
    >>> predictions = torch.ones(2, 4, 3)
    >>> predictions[1, 2:] = 5.0  # padding of the second clip: ignored
    >>> reconstruction_loss(predictions, targets, torch.tensor([1.0, 0.5]),
    ...                     reduction="batch")
    tensor([1., 1.])
    """
    if predictions.shape != targets.shape or predictions.dim() != 3:
        raise ValueError(
            "predictions and targets must both be [batch, frames, bins]; got "
            f"{list(predictions.shape)} and {list(targets.shape)}"
        )
    batch, n_frames, _ = targets.shape
    length = check_relative_lengths(length, batch).to(targets.device)
    counts = frame_counts(length, n_frames)
    mask = frame_mask(counts, n_frames).to(targets.dtype)
    per_frame = (predictions - targets).pow(2).mean(dim=-1)
    per_clip = (per_frame * mask).sum(dim=1) / counts.to(targets.dtype)
    return _reduce(per_clip, reduction)


def clustering_loss(errors, reduction="mean"):
    """Clustering objective (eq. 7): each clip's best reconstruction error.

    The paper sums over clips; ``"mean"`` divides by the batch size so the
    scale does not depend on it.

    Arguments
    ---------
    errors : torch.Tensor
        ``[B, K]`` reconstruction errors.
    reduction : str
        ``"mean"``, ``"batch"`` or ``"sum"``.

    Returns
    -------
    torch.Tensor
        The loss (``[B]`` for ``"batch"``).

    Example
    -------
    >>> clustering_loss(torch.tensor([[0.3, 0.1, 0.2], [0.5, 0.4, 0.9]]))
    tensor(0.2500)
    """
    return _reduce(errors.min(dim=1).values, reduction)


def log_posteriors(errors, beta):
    """Class log-probabilities ``log softmax(-beta * errors)`` ``[B, K]``.

    Arguments
    ---------
    errors : torch.Tensor
        ``[B, K]`` reconstruction errors.
    beta : torch.Tensor or float
        Inverse temperature (positive).

    Returns
    -------
    torch.Tensor
        ``[B, K]`` log-probabilities.

    Example
    -------
    >>> log_posteriors(torch.tensor([[0.0, 0.0]]), 1.0).exp()
    tensor([[0.5000, 0.5000]])
    """
    return torch.log_softmax(-beta * errors, dim=1)


def prototype_cross_entropy(errors, targets, beta, reduction="mean"):
    """L_ce (eq. 8): cross-entropy of ``softmax(-beta * errors)``.

    Arguments
    ---------
    errors : torch.Tensor
        ``[B, K]`` reconstruction errors.
    targets : torch.Tensor
        Class of each clip, ``[B]`` or ``[B, 1]`` (prototype k is class k).
    beta : torch.Tensor or float
        Inverse temperature (learnable in the model).
    reduction : str
        ``"mean"``, ``"batch"`` or ``"sum"``.

    Returns
    -------
    torch.Tensor
        The loss (``[B]`` for ``"batch"``).

    Example
    -------
    >>> errors = torch.tensor([[1.0, 2.0, 3.0], [2.0, 1.0, 1.0]])
    >>> prototype_cross_entropy(errors, torch.tensor([0, 2]), beta=1.0,
    ...                         reduction="batch")
    tensor([0.4076, 0.8620])
    """
    targets = _flat_targets(targets, errors.shape[0])
    log_probs = log_posteriors(errors, beta)
    per_clip = -log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)
    return _reduce(per_clip, reduction)


def supervised_loss(errors, targets, beta, lambda_ce=0.01, reduction="mean"):
    """Supervised objective (eq. 9): L_rec(x, y) + lambda_ce * L_ce(x, y).

    The reconstruction term always uses the label's prototype, even when
    another prototype reconstructs the clip better.

    Arguments
    ---------
    errors : torch.Tensor
        ``[B, K]`` reconstruction errors.
    targets : torch.Tensor
        Class of each clip, ``[B]`` or ``[B, 1]``.
    beta : torch.Tensor or float
        Inverse temperature of L_ce.
    lambda_ce : float
        Weight of L_ce (paper: 0.01).
    reduction : str
        ``"mean"``, ``"batch"`` or ``"sum"``.

    Returns
    -------
    torch.Tensor
        The loss (``[B]`` for ``"batch"``).

    Example
    -------
    >>> errors = torch.tensor([[0.2, 0.1]])
    >>> supervised_loss(errors, torch.tensor([0]), beta=0.0, lambda_ce=0.5)
    tensor(0.5466)
    """
    rec = chosen_errors(errors, targets)
    ce = prototype_cross_entropy(errors, targets, beta, reduction="batch")
    return _reduce(rec + lambda_ce * ce, reduction)


class PrototypeObjective(torch.nn.Module):
    """The training objective of either mode, with its parts for logging.

    Arguments
    ---------
    mode : str
        ``"supervised"`` (eq. 9, prototype k is class k) or
        ``"unsupervised"`` (eq. 7, each clip uses its best prototype).
    lambda_ce : float
        Weight of L_ce in supervised mode (paper: 0.01).

    Example
    -------
    >>> objective = PrototypeObjective("supervised", lambda_ce=0.01)
    >>> errors = torch.tensor([[0.2, 0.1], [0.3, 0.6]])
    >>> loss, parts = objective(errors, beta=1.0, targets=torch.tensor([0, 0]))
    >>> round(loss.item(), 4), parts["choice"].tolist()
    (0.2565, [0, 0])
    >>> loss, parts = PrototypeObjective("unsupervised")(errors, beta=1.0)
    >>> round(loss.item(), 4), parts["choice"].tolist()
    (0.2, [1, 0])
    """

    def __init__(self, mode="supervised", lambda_ce=0.01):
        super().__init__()
        if mode not in OBJECTIVE_MODES:
            raise ValueError(f"mode must be one of {OBJECTIVE_MODES}; got {mode!r}")
        self.mode = mode
        self.lambda_ce = lambda_ce

    def forward(self, errors, beta, targets=None, ce_weight=1.0):
        """Returns the loss and a dict of detached parts.

        Arguments
        ---------
        errors : torch.Tensor
            ``[B, K]`` reconstruction errors.
        beta : torch.Tensor or float
            Inverse temperature of L_ce.
        targets : torch.Tensor, optional
            Classes ``[B]``; required in supervised mode.
        ce_weight : float
            Multiplies ``lambda_ce`` (the curriculum sets 0 before its
            ``ce_temperature`` stage). L_ce stays in the graph, with a zero
            gradient, so beta is never an unused parameter.

        Returns
        -------
        loss : torch.Tensor
            Scalar objective.
        parts : dict
            ``rec`` (mean L_rec of the chosen prototypes), ``ce`` (mean L_ce,
            supervised only) and ``choice`` (the prototype each clip used).
        """
        if self.mode == "unsupervised":
            loss = clustering_loss(errors)
            return loss, {"rec": loss.detach(), "choice": errors.argmin(dim=1)}
        if targets is None:
            raise ValueError("the supervised objective needs targets")
        targets = _flat_targets(targets, errors.shape[0])
        rec = chosen_errors(errors, targets).mean()
        ce = prototype_cross_entropy(errors, targets, beta)
        loss = rec + ce_weight * self.lambda_ce * ce
        return loss, {"rec": rec.detach(), "ce": ce.detach(), "choice": targets}
