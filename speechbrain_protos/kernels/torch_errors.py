"""Torch backend of the fused reconstruction error: any device.

Same algebra as the numba kernel, in chunks of prototypes so that no more
than ``CHUNK_ELEMENTS`` elements of ``[B, T, K, F]`` are held at once. Pitch
positions are computed in the features' dtype: float32 in training, whose
position error against the reference's float64 stays within a few ulps of
the shift (see :mod:`speechbrain_protos.kernels.triton_program`), with no
float64 temporaries (a fraction of the speed on consumer GPUs; none at all
on Apple's MPS).

Authors
 * speechbrain-protos developers 2026
"""

import torch

from speechbrain_protos.lengths import frame_mask
from speechbrain_protos.transforms import (
    FILTER_SPAN,
    SOFTPLUS_SHARPNESS,
    SOFTPLUS_THRESHOLD,
)

CHUNK_ELEMENTS = 2**21  # elements of [B, T, K_chunk, F] per chunk


def knee(distance, softplus):
    """Filter knee and its derivative, as ``transforms._hinge``.

    Example
    -------
    >>> knee(torch.tensor([-1.0, 2.0]), softplus=False)
    (tensor([0., 2.]), tensor([0., 1.]))
    """
    if softplus:
        return (
            torch.nn.functional.softplus(distance, beta=SOFTPLUS_SHARPNESS),
            torch.where(
                distance * SOFTPLUS_SHARPNESS > SOFTPLUS_THRESHOLD,
                torch.ones_like(distance),
                torch.sigmoid(SOFTPLUS_SHARPNESS * distance),
            ),
        )
    return torch.relu(distance), (distance > 0).to(distance.dtype)


def _chunk_terms(
    feats, prototypes, gain, factor, filters, constants, weights, with_grads
):
    """Residual terms of one chunk of prototypes.

    Returns a dict with the chunk's errors ``[B, Kc]`` and the scaled
    residual ``r = dE/dR`` ``[B, T, Kc, F]``; with ``with_grads`` also the
    local gradients of the per-frame parameters and of the prototypes.
    """
    batch, n_frames, n_bins = feats.shape
    n_protos = prototypes.shape[0]
    shape = (batch, n_frames, n_protos, n_bins)
    if factor is not None:
        c = constants.c.to(feats.dtype)
        inverse_minus_one = (1.0 / factor - 1.0).unsqueeze(-1)
        denominator = 1.0 + c * inverse_minus_one
        steps = torch.arange(n_bins, dtype=feats.dtype, device=feats.device)
        raw = steps + constants.bins_per_unit * torch.log1p(c * inverse_minus_one)
        positions = raw.clamp(0.0, n_bins - 1.0)
        lower = positions.floor().clamp(max=n_bins - 1)
        weight = positions - lower
        lower = lower.long()
        upper = (lower + 1).clamp(max=n_bins - 1)
        table = prototypes.expand(shape)
        below, above = table.gather(-1, lower), table.gather(-1, upper)
        recon = (1.0 - weight) * below + weight * above
    else:
        recon = prototypes.expand(shape)
    if gain is not None:
        recon = recon + gain.unsqueeze(-1)
    if filters is not None:
        low_cut, low_slope, high_cut, high_slope = filters.unsqueeze(-1).unbind(-2)
        low_knee, low_grad = knee(
            FILTER_SPAN * (low_cut - constants.unit_freqs), constants.softplus
        )
        high_knee, high_grad = knee(
            FILTER_SPAN * (constants.unit_freqs - high_cut), constants.softplus
        )
        recon = recon + low_slope * low_knee + high_slope * high_knee
    error = recon - feats.unsqueeze(2)
    out = {
        "errors": (error.pow(2).sum(-1) * weights.unsqueeze(-1)).sum(1) / n_bins,
        "residual": error * (weights * (2.0 / n_bins))[:, :, None, None],
    }
    if not with_grads:
        return out
    residual = out["residual"]
    if gain is not None:
        out["gain"] = residual.sum(-1)
    if factor is not None:
        inside = (raw >= 0) & (raw <= n_bins - 1)
        slope_of_position = (
            -constants.bins_per_unit * c / (factor.pow(2).unsqueeze(-1) * denominator)
        ) * inside
        out["factor"] = (residual * (above - below) * slope_of_position).sum(-1)
        flat = (batch, n_protos, n_frames * n_bins)

        def to_flat(tensor):
            return tensor.transpose(1, 2).reshape(flat)

        proto_grad = torch.zeros(
            batch, n_protos, n_bins, dtype=feats.dtype, device=feats.device
        )
        proto_grad.scatter_add_(2, to_flat(lower), to_flat(residual * (1.0 - weight)))
        proto_grad.scatter_add_(2, to_flat(upper), to_flat(residual * weight))
        out["prototypes"] = proto_grad
    else:
        out["prototypes"] = residual.sum(1)
    if filters is not None:
        out["filters"] = torch.stack(
            [
                (residual * low_slope * low_grad).sum(-1) * FILTER_SPAN,
                (residual * low_knee).sum(-1),
                -(residual * high_slope * high_grad).sum(-1) * FILTER_SPAN,
                (residual * high_knee).sum(-1),
            ],
            dim=-1,
        )
    return out


def chunks(n_protos, batch, n_frames, n_bins):
    """Prototype ranges whose chunk stays under CHUNK_ELEMENTS elements.

    Example
    -------
    >>> chunks(5, 1, 2**20, 1)
    [(0, 2), (2, 4), (4, 5)]
    """
    size = max(1, CHUNK_ELEMENTS // max(1, batch * n_frames * n_bins))
    return [(start, min(start + size, n_protos)) for start in range(0, n_protos, size)]


def _chunk_outputs(inputs, with_grads):
    """Yields ``(start, stop, terms)`` for each chunk of prototypes."""
    feats, counts = inputs.feats, inputs.counts
    batch, n_frames, n_bins = feats.shape
    weights = (
        frame_mask(counts, n_frames).to(feats.dtype) / counts.to(feats.dtype)[:, None]
    )
    n_protos = inputs.prototypes.shape[0]
    for start, stop in chunks(n_protos, batch, n_frames, n_bins):
        params = (
            None if p is None else p[:, :, start:stop]
            for p in (inputs.gain, inputs.factor, inputs.filters)
        )
        terms = _chunk_terms(
            feats,
            inputs.prototypes[start:stop],
            *params,
            inputs.constants,
            weights,
            with_grads,
        )
        yield start, stop, terms


def forward(inputs, with_grads):
    """Errors and local gradients, chunk by chunk over prototypes (see
    :mod:`speechbrain_protos.kernels`)."""
    errors, grads = [], {}
    for _, _, terms in _chunk_outputs(inputs, with_grads):
        errors.append(terms["errors"])
        for name in ("gain", "factor", "filters", "prototypes"):
            if name in terms:
                grads.setdefault(name, []).append(terms[name])
    grads = {
        name: torch.cat(parts, dim=1 if name == "prototypes" else 2)
        for name, parts in grads.items()
    }
    return torch.cat(errors, dim=1), grads


def input_grad(inputs, upstream):
    """dL/dx = -sum_k upstream[b, k] * r[b, t, k, f], recomputed by chunk."""
    grad = torch.zeros_like(inputs.feats)
    for start, stop, terms in _chunk_outputs(inputs, with_grads=False):
        grad -= (terms["residual"] * upstream[:, None, start:stop, None]).sum(2)
    return grad
