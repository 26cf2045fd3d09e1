"""Relative lengths, SpeechBrain style: checks and frame counts.

SpeechBrain batches carry one relative length per item in (0, 1]: the share of
the padded time axis that holds real signal. Everything in this package turns
those into whole frame counts with :func:`frame_counts`, so that the encoder,
the reconstruction error and the losses all mask the same frames.

Authors
 * speechbrain-protos developers 2026
"""

import torch


def check_relative_lengths(lengths, batch_size, name="lengths"):
    """Validates a tensor of relative lengths, or builds one of ones.

    Arguments
    ---------
    lengths : torch.Tensor or None
        Relative lengths, shape ``[batch_size]``, each in (0, 1]. ``None``
        means every item fills the whole time axis.
    batch_size : int
        The number of items the lengths must describe.
    name : str
        How the argument is named in error messages.

    Returns
    -------
    torch.Tensor
        The relative lengths as a float tensor of shape ``[batch_size]``.

    Raises
    ------
    ValueError
        If the shape is wrong or a value is not finite or outside (0, 1].

    Example
    -------
    >>> check_relative_lengths(None, 2)
    tensor([1., 1.])
    >>> check_relative_lengths(torch.tensor([0.5, 1.5]), 2)
    Traceback (most recent call last):
    ...
    ValueError: lengths must lie in (0, 1]; got 1.5 at index 1
    """
    if lengths is None:
        return torch.ones(batch_size)
    if not torch.is_tensor(lengths):
        lengths = torch.as_tensor(lengths, dtype=torch.float32)
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        raise ValueError(
            f"{name} must have shape [{batch_size}] (one relative length per "
            f"item); got shape {list(lengths.shape)}"
        )
    bad = ~(torch.isfinite(lengths) & (lengths > 0) & (lengths <= 1))
    if bad.any():
        index = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"{name} must lie in (0, 1]; got {lengths[index].item():g} at index {index}"
        )
    return lengths.float()


def frame_counts(lengths, n_frames):
    """Turns relative lengths into whole numbers of valid frames.

    Arguments
    ---------
    lengths : torch.Tensor
        Relative lengths in (0, 1], shape ``[B]`` (see
        :func:`check_relative_lengths`).
    n_frames : int
        Length of the padded time axis.

    Returns
    -------
    torch.Tensor
        Long tensor ``[B]`` of frame counts, each in ``[1, n_frames]``
        (rounded to the nearest frame, as SpeechBrain's masks do).

    Example
    -------
    >>> frame_counts(torch.tensor([1.0, 0.5, 0.01]), 10)
    tensor([10,  5,  1])
    """
    counts = torch.round(lengths.float() * n_frames).long()
    return counts.clamp(1, n_frames)


def reflect_indices(counts, n_out, offset=0):
    """Per-row read positions that extend each row by reflecting itself.

    Position j of row b reads entry ``reflect(j - offset)`` of the row's
    ``counts[b]`` valid entries: reflected without repeating the edge, as
    torch's ``"reflect"`` padding does, and periodically when the extension
    is longer than the row. Whatever the padding beyond a row held is never
    read, so each row looks as it would alone.

    Arguments
    ---------
    counts : torch.Tensor
        Long ``[B]`` valid entries per row (at least 1).
    n_out : int
        Positions per output row.
    offset : int
        Positions of reflection before each row's first entry.

    Returns
    -------
    torch.Tensor
        Long ``[B, n_out]`` indices into the rows.

    Example
    -------
    >>> reflect_indices(torch.tensor([3, 1]), 7, offset=2)
    tensor([[2, 1, 0, 1, 2, 1, 0],
            [0, 0, 0, 0, 0, 0, 0]])
    """
    steps = torch.arange(n_out, device=counts.device)[None, :] - offset
    period = (2 * counts - 2).clamp_min(1)[:, None]
    folded = steps % period
    index = torch.where(folded < counts[:, None], folded, period - folded)
    return torch.where(counts[:, None] > 1, index, torch.zeros_like(index))


def frame_mask(counts, n_frames):
    """Boolean mask ``[B, n_frames]`` that is True on valid frames.

    Arguments
    ---------
    counts : torch.Tensor
        Long tensor ``[B]`` of valid frame counts.
    n_frames : int
        Length of the padded time axis.

    Returns
    -------
    torch.Tensor
        Bool tensor ``[B, n_frames]``.

    Example
    -------
    >>> frame_mask(torch.tensor([2, 3]), 3)
    tensor([[ True,  True, False],
            [ True,  True,  True]])
    """
    steps = torch.arange(n_frames, device=counts.device)
    return steps[None, :] < counts[:, None]
