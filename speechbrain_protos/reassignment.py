"""Empty-cluster reassignment for unsupervised training.

After each training epoch, a prototype chosen by too few clips (a share below
``threshold`` of a uniform share 1/K) is replaced by a perturbed copy of a
prototype drawn in proportion to use. Everything that belongs to one
prototype moves with it: its frame, the rows of its decoder heads (all of
them: ``values_per_prototype`` channels each), the optimizer state
(Adam's moments) of those rows, and its typical (running-mean)
transformations. The donor is perturbed too, so the two
drift apart.

This fixes three bugs of the authors' code: there every head-row index
evaluated to the last channel (a late-binding lambda), head optimizer
moments were never copied, and the last prototype could never be
reassigned.

Authors
 * speechbrain-protos developers 2026
"""

import logging

import torch

from speechbrain_protos.lobes import OUTPUTS_PER_PROTOTYPE

logger = logging.getLogger(__name__)


def prototype_rows(index, values_per_prototype):
    """Head output channels of one prototype (layout ``k * P + p``).

    Example
    -------
    >>> prototype_rows(2, 4)
    [8, 9, 10, 11]
    """
    return [index * values_per_prototype + p for p in range(values_per_prototype)]


def _copy_rows(tensor, source_rows, target_rows):
    tensor[target_rows] = tensor[source_rows]


def _copy_optimizer_rows(optimizer, param, source_rows, target_rows):
    state = optimizer.state.get(param, {}) if optimizer is not None else {}
    for value in state.values():
        if torch.is_tensor(value) and value.shape[:1] == param.shape[:1]:
            _copy_rows(value, source_rows, target_rows)


def reassign_prototypes(
    model, optimizer, counts, threshold=0.02, noise_std=0.01, generator=None
):
    """Replaces under-used prototypes by perturbed copies of used ones.

    Arguments
    ---------
    model : PrototypeReconstructor
        The (unwrapped) model; changed in place.
    optimizer : torch.optim.Optimizer or None
        Its optimizer, whose per-row state is copied too.
    counts : torch.Tensor
        ``[K]`` number of training clips that chose each prototype.
    threshold : float
        A prototype is reassigned when ``K * count / total < threshold``
        (authors: 0.02).
    noise_std : float
        Standard deviation of the noise added to both copies (authors: 0.01).
    generator : torch.Generator, optional
        Source of randomness; give every DDP process the same seed so they
        all make the same change.

    Returns
    -------
    list of (int, int)
        ``(reassigned, donor)`` pairs.

    Example
    -------
    >>> from speechbrain_protos.lobes import PrototypeReconstructor
    >>> model = PrototypeReconstructor(3, n_mels=32, start_dim=4, n_pools=2)
    >>> pairs = reassign_prototypes(model, None, torch.tensor([10, 0, 5]),
    ...                             generator=torch.Generator().manual_seed(0))
    >>> [k for k, _ in pairs], pairs[0][1] in (0, 2)
    ([1], True)
    """
    counts = counts.to(torch.float64)
    total = counts.sum()
    n_prototypes = counts.numel()
    if total <= 0:
        return []
    share = n_prototypes * counts / total
    empty = (share < threshold).nonzero().flatten()
    donors = (share >= threshold).nonzero().flatten()
    if empty.numel() == 0 or donors.numel() == 0:
        return []
    picks = torch.multinomial(
        share[donors], empty.numel(), replacement=True, generator=generator
    )
    pairs = [(int(k), int(donors[i])) for k, i in zip(empty, picks)]
    prototypes = model.prototypes
    with torch.no_grad():
        for target, source in pairs:
            noise = torch.randn(2, prototypes.shape[1], generator=generator)
            noise = noise_std * noise.to(prototypes)
            prototypes[target] = prototypes[source] + noise[0]
            prototypes[source] += noise[1]
            _copy_optimizer_rows(optimizer, prototypes, [source], [target])
            for name, decoder in model.decoders.items():
                source_rows = prototype_rows(source, OUTPUTS_PER_PROTOTYPE[name])
                target_rows = prototype_rows(target, OUTPUTS_PER_PROTOTYPE[name])
                for param in (decoder.head.weight, decoder.head.bias):
                    _copy_rows(param, source_rows, target_rows)
                    _copy_optimizer_rows(optimizer, param, source_rows, target_rows)
            for buffer in model.typical_buffers():
                buffer[target] = buffer[source]
    logger.info(
        "Reassigned %d under-used prototypes: %s",
        len(pairs),
        ", ".join(f"{k}<-{j}" for k, j in pairs),
    )
    return pairs
