"""Per-prototype reconstruction error: a simple reference and a fused path.

The error matrix ``E[b, k]`` is the mean over the valid frames of clip b and
over the F mel bins of ``(x[b, t] - R_k(x)[b, t]) ** 2`` (eq. 6, with the
authors' extra 1/F). Its work is B*T*K*F elements: the hot path of training.

* ``impl="reference"``: short and obviously correct. It materialises every
  reconstruction ``[B, T, K, F]`` with the pure functions of
  :mod:`speechbrain_protos.transforms` and lets autograd differentiate.
* ``impl="fused"`` (default): never holds more than a chunk of that tensor.
  Forward walks (b, t, k, f) once and, when gradients are needed, also
  computes the *local* gradients of ``E[b, k]`` with respect to every
  per-frame parameter (``[B, T, K]`` each) and the per-clip prototype
  gradients ``[B, K, F]``. Backward only multiplies them by the incoming
  ``dL/dE[b, k]``: no second pass, no saved ``[B, T, K, F]`` tensor. The
  gradient with respect to the input features needs the incoming gradient
  inside the sum over k, so it alone recomputes (only when ``x`` requires
  grad, which features from a fixed front end do not). On CPU the loop is a
  numba kernel, parallel over (clip, prototype) pairs, that skips padded
  frames; elsewhere (CUDA) it is chunked torch code with the same algebra.

Both paths compute pitch positions in float64, so they agree on which two
bins each output bin interpolates.

Authors
 * speechbrain-protos developers 2026
"""

import math

import numba
import numpy as np
import torch

from speechbrain_protos.lengths import frame_mask
from speechbrain_protos.precision import full_precision
from speechbrain_protos.transforms import (
    FILTER_SPAN,
    SOFTPLUS_SHARPNESS,
    TransformParams,
    pitch_warp_constants,
)

IMPLEMENTATIONS = ("fused", "reference")
BACKENDS = ("numba", "torch")
CHUNK_ELEMENTS = 2**21  # elements of [B, T, K_chunk, F] per torch chunk
SOFTPLUS_THRESHOLD = 20.0  # torch.nn.functional.softplus's default
LOG1P_TERMS = 13  # terms of the numba kernel's log1p series
# Frames whose pitch factor keeps 1 + c (1/factor - 1) in the series' range
# (c in [0, 1)); others use the library's log1p.
SERIES_LOW, SERIES_HIGH = math.exp(-1.0), math.exp(1.0)


def reconstruction_errors(
    feats, prototypes, params, transforms, counts, impl="fused", backend=None
):
    """Error matrix ``[B, K]`` of every clip by every prototype.

    Arguments
    ---------
    feats : torch.Tensor
        ``[B, T, F]`` normalised log-mel features.
    prototypes : torch.Tensor
        ``[K, F]`` prototype frames.
    params : TransformParams
        ``[B, T, K]`` (``[B, T, K, 4]`` for filters) parameters; ``None``
        fields are inactive transforms.
    transforms : SpectralTransforms
        Constants of the mel layout (pitch warp, filter shape).
    counts : torch.Tensor
        Long ``[B]`` numbers of valid frames (see
        :func:`speechbrain_protos.lengths.frame_counts`).
    impl : str
        ``"fused"`` (memory-light) or ``"reference"`` (materialises all).
    backend : str, optional
        Fused backend, ``"numba"`` or ``"torch"``; default numba on CPU and
        torch elsewhere.

    Returns
    -------
    torch.Tensor
        ``[B, K]`` errors.

    Example
    -------
    >>> from speechbrain_protos.transforms import SpectralTransforms, TransformParams
    >>> transforms = SpectralTransforms(n_mels=8, sample_rate=16000)
    >>> feats, prototypes = torch.rand(2, 5, 8), torch.rand(3, 8)
    >>> params = TransformParams(gain=0.1 * torch.randn(2, 5, 3),
    ...                          factor=torch.rand(2, 5, 3) + 0.5)
    >>> counts = torch.tensor([5, 3])
    >>> fused = reconstruction_errors(feats, prototypes, params, transforms, counts)
    >>> reference = reconstruction_errors(feats, prototypes, params, transforms,
    ...                                   counts, impl="reference")
    >>> fused.shape, torch.allclose(fused, reference, rtol=1e-5)
    (torch.Size([2, 3]), True)
    """
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {IMPLEMENTATIONS}; got {impl!r}")
    if backend is None:
        backend = "numba" if feats.device.type == "cpu" else "torch"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    # Under mixed precision the networks' outputs arrive in bf16/fp16; the
    # error is a sum of B*T*K*F small squares, so it runs in float32.
    with torch.autocast(feats.device.type, enabled=False):
        feats, prototypes = full_precision(feats), full_precision(prototypes)
        params = TransformParams(*(full_precision(values) for values in params))
        if impl == "reference":
            return reference_errors(feats, prototypes, params, transforms, counts)
        return _fused_errors(feats, prototypes, params, transforms, counts, backend)


def _fused_errors(feats, prototypes, params, transforms, counts, backend):
    constants = _KernelConstants(transforms, feats.dtype, feats.device)
    differentiable = [prototypes, *(p for p in params if p is not None)]
    with_grads = torch.is_grad_enabled() and any(
        tensor.requires_grad for tensor in differentiable
    )
    return _FusedErrors.apply(
        feats, prototypes, *params, counts, constants, backend, with_grads
    )


def reference_errors(feats, prototypes, params, transforms, counts):
    """Reference error matrix: materialise ``[B, T, K, F]``, then average.

    Arguments
    ---------
    feats, prototypes, params, transforms, counts
        As in :func:`reconstruction_errors`.

    Returns
    -------
    torch.Tensor
        ``[B, K]`` errors.
    """
    batch, n_frames, n_bins = feats.shape
    shape = (batch, n_frames, prototypes.shape[0], n_bins)
    recon = transforms(prototypes, params).expand(shape)
    per_frame = (feats.unsqueeze(2) - recon).pow(2).mean(dim=-1)
    mask = frame_mask(counts.to(feats.device), n_frames).to(feats.dtype)
    total = (per_frame * mask.unsqueeze(-1)).sum(dim=1)
    return total / counts.to(feats.device, feats.dtype).unsqueeze(-1)


def reconstruct_chosen(prototypes, params, choice, transforms, n_frames):
    """Reconstruction of each clip by one chosen prototype ``[B, T, F]``.

    Arguments
    ---------
    prototypes : torch.Tensor
        ``[K, F]`` prototype frames.
    params : TransformParams
        ``[B, T, K, ...]`` parameters (``None`` for inactive transforms).
    choice : torch.Tensor
        Long ``[B]`` prototype index per clip.
    transforms : SpectralTransforms
        Constants of the mel layout.
    n_frames : int
        Number of frames T (needed when no transform is active).

    Returns
    -------
    torch.Tensor
        ``[B, T, F]`` reconstructions.

    Example
    -------
    >>> from speechbrain_protos.transforms import SpectralTransforms, TransformParams
    >>> transforms = SpectralTransforms(n_mels=8, sample_rate=16000)
    >>> prototypes = torch.rand(3, 8)
    >>> params = TransformParams(gain=torch.zeros(2, 5, 3))
    >>> out = reconstruct_chosen(prototypes, params, torch.tensor([2, 0]),
    ...                          transforms, 5)
    >>> out.shape, bool((out[0] == prototypes[2]).all())
    (torch.Size([2, 5, 8]), True)
    """
    with torch.autocast(prototypes.device.type, enabled=False):
        selected = TransformParams(
            *(full_precision(values) for values in params.select(choice))
        )
        chosen = full_precision(prototypes)[choice].unsqueeze(1)  # [B, 1, F]
        out = transforms(chosen, selected)
    return out.expand(choice.shape[0], n_frames, prototypes.shape[-1])


class _KernelConstants:
    """Per-bin constants of the transforms, in the dtype of the kernels."""

    def __init__(self, transforms, dtype, device):
        c, self.bins_per_unit = pitch_warp_constants(transforms.bin_coords)
        self.c = c.to(device)
        self.unit_freqs = transforms.unit_freqs.to(device, dtype)
        self.softplus = transforms.filter_shape == "softplus"


def _knee(distance, softplus):
    """Filter knee and its derivative (torch), as in transforms._hinge."""
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


def _torch_chunk(
    feats, prototypes, gain, factor, filters, constants, weights, with_grads
):
    """Residual terms of one chunk of prototypes (torch backend).

    Returns a dict with the chunk's errors ``[B, Kc]`` and the scaled
    residual ``r = dE/dR`` ``[B, T, Kc, F]``; with ``with_grads`` also the
    local gradients of the per-frame parameters and of the prototypes.
    """
    batch, n_frames, n_bins = feats.shape
    n_protos = prototypes.shape[0]
    shape = (batch, n_frames, n_protos, n_bins)
    if factor is not None:
        c = constants.c
        inverse_minus_one = (1.0 / factor.to(torch.float64) - 1.0).unsqueeze(-1)
        denominator = 1.0 + c * inverse_minus_one
        steps = torch.arange(n_bins, dtype=torch.float64, device=feats.device)
        raw = steps + constants.bins_per_unit * torch.log1p(c * inverse_minus_one)
        positions = raw.clamp(0.0, n_bins - 1.0)
        lower = positions.floor().clamp(max=n_bins - 1)
        weight = (positions - lower).to(feats.dtype)
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
        low_knee, low_grad = _knee(
            FILTER_SPAN * (low_cut - constants.unit_freqs), constants.softplus
        )
        high_knee, high_grad = _knee(
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
            -constants.bins_per_unit
            * c
            / (factor.to(torch.float64).pow(2).unsqueeze(-1) * denominator)
        ) * inside
        out["factor"] = (
            residual * (above - below) * slope_of_position.to(feats.dtype)
        ).sum(-1)
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


def _torch_chunks(n_protos, batch, n_frames, n_bins):
    """Prototype ranges whose chunk stays under CHUNK_ELEMENTS elements."""
    size = max(1, CHUNK_ELEMENTS // max(1, batch * n_frames * n_bins))
    return [(start, min(start + size, n_protos)) for start in range(0, n_protos, size)]


def _torch_chunk_outputs(
    feats, prototypes, gain, factor, filters, counts, constants, with_grads
):
    """Yields ``(start, stop, terms)`` for each chunk of prototypes."""
    batch, n_frames, n_bins = feats.shape
    weights = (
        frame_mask(counts, n_frames).to(feats.dtype) / counts.to(feats.dtype)[:, None]
    )
    for start, stop in _torch_chunks(prototypes.shape[0], batch, n_frames, n_bins):
        params = (
            None if p is None else p[:, :, start:stop] for p in (gain, factor, filters)
        )
        terms = _torch_chunk(
            feats, prototypes[start:stop], *params, constants, weights, with_grads
        )
        yield start, stop, terms


def _torch_forward(
    feats, prototypes, gain, factor, filters, counts, constants, with_grads
):
    """Errors and local gradients, chunk by chunk over prototypes."""
    errors, grads = [], {}
    for _, _, terms in _torch_chunk_outputs(
        feats, prototypes, gain, factor, filters, counts, constants, with_grads
    ):
        errors.append(terms["errors"])
        for name in ("gain", "factor", "filters", "prototypes"):
            if name in terms:
                grads.setdefault(name, []).append(terms[name])
    grads = {
        name: torch.cat(parts, dim=1 if name == "prototypes" else 2)
        for name, parts in grads.items()
    }
    return torch.cat(errors, dim=1), grads


def _torch_input_grad(
    feats, prototypes, gain, factor, filters, counts, constants, upstream
):
    """dL/dx = -sum_k upstream[b, k] * r[b, t, k, f], recomputed by chunk."""
    grad = torch.zeros_like(feats)
    for start, stop, terms in _torch_chunk_outputs(
        feats, prototypes, gain, factor, filters, counts, constants, with_grads=False
    ):
        grad -= (terms["residual"] * upstream[:, None, start:stop, None]).sum(2)
    return grad


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _row_positions(
    c,
    inverse_minus_one,
    slope_scale,
    last,
    bins_per_unit,
    series,
    with_slopes,
    lower,
    gathered,
):  # pragma: no cover - compiled
    """Read positions of one frame: the lower of the two prototype bins
    each output bin interpolates (``lower``, int32), the weight of the upper
    one (``gathered[2]``) and, ``with_slopes``, d position / d factor
    (``gathered[3]``). With ``series`` the log1p is an odd series in
    u = x / (2 + x) (relative error below 1e-10 while 1 + x lies in
    [1/e, e]): no library call and no division check, so the loop
    vectorises; otherwise the library's log1p (any factor)."""
    last_bin = np.int32(c.shape[0] - 1)
    for f in range(c.shape[0]):
        shift_arg = c[f] * inverse_minus_one
        if series:
            u = shift_arg / (2.0 + shift_arg)
            u2 = u * u
            acc = 1.0 / (2 * LOG1P_TERMS - 1)
            for term in range(LOG1P_TERMS - 2, -1, -1):
                acc = acc * u2 + 1.0 / (2 * term + 1)
            log_value = 2.0 * u * acc
        else:
            log_value = math.log1p(shift_arg)
        raw = f + bins_per_unit * log_value
        position = min(max(raw, 0.0), last)
        below = min(np.int32(position), last_bin)
        lower[f] = below
        gathered[2, f] = position - below
        if with_slopes:
            inside = raw >= 0.0 and raw <= last
            gathered[3, f] = slope_scale * c[f] / (1.0 + shift_arg) if inside else 0.0


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _row_filters(unit_freqs, low_cut, high_cut, softplus, out):  # pragma: no cover
    """Filter knees of one frame and their slopes d knee / d distance:
    ``out[0]``, ``out[1]`` (low-pass side), ``out[2]``, ``out[3]`` (high).
    The hinge loop has no branch and vectorises; softplus calls the
    library's exp and log1p."""
    if softplus:
        for f in range(unit_freqs.shape[0]):
            out[0, f], out[1, f] = _softplus_and_grad(
                FILTER_SPAN * (low_cut - unit_freqs[f])
            )
            out[2, f], out[3, f] = _softplus_and_grad(
                FILTER_SPAN * (unit_freqs[f] - high_cut)
            )
        return
    for f in range(unit_freqs.shape[0]):
        low_dist = FILTER_SPAN * (low_cut - unit_freqs[f])
        high_dist = FILTER_SPAN * (unit_freqs[f] - high_cut)
        out[0, f] = max(low_dist, 0.0)
        out[1, f] = 1.0 if low_dist > 0.0 else 0.0
        out[2, f] = max(high_dist, 0.0)
        out[3, f] = 1.0 if high_dist > 0.0 else 0.0


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _row_gather(prototype, prototype_next, lower, gathered):  # pragma: no cover
    """The two prototype bins each output bin interpolates: ``gathered[0]``
    and ``gathered[1]``. ``prototype_next[i]`` is bin i + 1 (the last bin
    repeats), so each output bin costs one int32 index and two loads; this
    loop does nothing else, since its indexed loads keep it from the
    vectorised passes."""
    for f in range(lower.shape[0]):
        below = lower[f]
        gathered[0, f] = prototype[below]
        gathered[1, f] = prototype_next[below]


@numba.njit(cache=True, fastmath=True, inline="always")
def _bin_error(
    frame, gathered, knees, offset, low_slope, high_slope, f
):  # pragma: no cover - compiled
    """R - x at bin f of one frame (eq. 5: interpolated prototype bin, gain
    offset, filter knees); arguments as in :func:`_row_error`."""
    weight = gathered[2, f]
    recon = (
        (1.0 - weight) * gathered[0, f]
        + weight * gathered[1, f]
        + offset
        + low_slope * knees[0, f]
        + high_slope * knees[2, f]
    )
    return recon - frame[f]


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _row_squared_error(
    frame, gathered, knees, offset, low_slope, high_slope
):  # pragma: no cover - compiled
    """The squared error of one frame summed over bins, without the
    gradient sums of :func:`_row_error` (evaluation, inference)."""
    total = 0.0
    for f in range(frame.shape[0]):
        error = _bin_error(frame, gathered, knees, offset, low_slope, high_slope, f)
        total += error * error
    return total


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _row_error(
    frame, gathered, knees, offset, low_slope, high_slope, scale, residuals
):  # pragma: no cover - compiled
    """One frame against one prototype: writes ``scale * (R - x)`` per bin
    into ``residuals``; returns the squared error summed over bins and the
    sums behind the local gradients (gain, factor, the four filter terms).

    ``gathered`` holds the interpolated bins of :func:`_row_gather`, and
    the weights and d position / d factor of :func:`_row_positions` (zeros
    without pitch), ``knees`` the filter terms of
    :func:`_row_filters` (zeros without filters). No branch, no gather: the
    loop vectorises."""
    total = grad_gain = grad_factor = 0.0
    grad_low_cut = grad_low_slope = grad_high_cut = grad_high_slope = 0.0
    for f in range(frame.shape[0]):
        error = _bin_error(frame, gathered, knees, offset, low_slope, high_slope, f)
        total += error * error
        residual = scale * error
        residuals[f] = residual
        grad_gain += residual
        grad_factor += residual * (gathered[1, f] - gathered[0, f]) * gathered[3, f]
        grad_low_cut += residual * knees[1, f]
        grad_low_slope += residual * knees[0, f]
        grad_high_cut += residual * knees[3, f]
        grad_high_slope += residual * knees[2, f]
    return (
        total,
        grad_gain,
        grad_factor,
        FILTER_SPAN * low_slope * grad_low_cut,
        grad_low_slope,
        -FILTER_SPAN * high_slope * grad_high_cut,
        grad_high_slope,
    )


@numba.njit(cache=True, fastmath=True)
def _pair(b, k, inputs, with_grads, grads, upstream, d_feats):  # pragma: no cover
    """Walks clip b with prototype k once; returns E[b, k].

    ``inputs`` is the tuple of :func:`_numba_args`. With ``with_grads`` it
    writes the local gradients of (b, ., k) into ``grads`` (d_gain,
    d_factor, d_filters, d_protos; row (b, k) of the last). With a non-empty
    ``upstream`` it adds ``-upstream[b, k] * dE/dR`` into d_feats[b].

    Each frame takes several passes over the bins, so that most of them
    vectorise: read positions (:func:`_row_positions`) and filter knees
    (:func:`_row_filters`), the gather of the interpolated prototype bins
    (:func:`_row_gather`, scalar), the error and gradient sums
    (:func:`_row_error`), then the scatter of the prototype gradient
    (scalar). Without gradients (evaluation, inference) the positions skip
    their slopes and the error pass is :func:`_row_squared_error`.
    """
    (
        feats,
        prototypes,
        gain,
        factor,
        filters,
        counts,
        c,
        bins_per_unit,
        unit_freqs,
        use_gain,
        use_pitch,
        use_filters,
        softplus,
    ) = inputs
    d_gain, d_factor, d_filters, d_protos = grads
    n_bins = feats.shape[2]
    n_valid = counts[b]
    scale = 2.0 / (n_valid * n_bins)
    with_input = upstream.shape[0] > 0
    value_only = not (with_grads or with_input)
    proto_acc = np.zeros(n_bins)  # prototype gradient: lower bins
    # and upper bins of the interpolation (bin n_bins only ever gets
    # weight 0: the last bin interpolates with itself)
    upper_acc = np.zeros(n_bins + 1)
    residuals = np.empty(n_bins)
    knees = np.zeros((4, n_bins))  # no filters
    prototype = prototypes[k]
    prototype_next = np.empty(n_bins)
    prototype_next[: n_bins - 1] = prototype[1:]
    prototype_next[n_bins - 1] = prototype[n_bins - 1]
    # below, above, weight of above, d position / d factor; without pitch
    # each bin reads itself with weight 0
    gathered = np.zeros((4, n_bins))
    lower = np.arange(n_bins).astype(np.int32)
    _row_gather(prototype, prototype_next, lower, gathered)
    last = n_bins - 1.0
    total = 0.0
    for t in range(n_valid):
        offset = gain[b, t, k] if use_gain else 0.0
        low_slope = high_slope = 0.0
        if use_pitch:
            factor_value = float(factor[b, t, k])
            _row_positions(
                c,
                1.0 / factor_value - 1.0,
                -bins_per_unit / (factor_value * factor_value),
                last,
                bins_per_unit,
                SERIES_LOW <= factor_value <= SERIES_HIGH,
                not value_only,
                lower,
                gathered,
            )
            _row_gather(prototype, prototype_next, lower, gathered)
        if use_filters:
            low_slope = filters[b, t, k, 1]
            high_slope = filters[b, t, k, 3]
            _row_filters(
                unit_freqs, filters[b, t, k, 0], filters[b, t, k, 2], softplus, knees
            )
        if value_only:
            total += _row_squared_error(
                feats[b, t], gathered, knees, offset, low_slope, high_slope
            )
            continue
        sums = _row_error(
            feats[b, t],
            gathered,
            knees,
            offset,
            low_slope,
            high_slope,
            scale,
            residuals,
        )
        total += sums[0]
        if with_input:
            pull = upstream[b, k]
            for f in range(n_bins):
                d_feats[b, t, f] -= pull * residuals[f]
        if with_grads:
            if use_gain:
                d_gain[b, t, k] = sums[1]
            if use_pitch:
                d_factor[b, t, k] = sums[2]
                # Two loops: in one, bin f + 1 would read what bin f just
                # added (lower of f + 1 == upper of f), a chain through memory.
                for f in range(n_bins):
                    proto_acc[lower[f]] += residuals[f] * (1.0 - gathered[2, f])
                for f in range(n_bins):
                    upper_acc[lower[f] + 1] += residuals[f] * gathered[2, f]
            else:
                for f in range(n_bins):
                    proto_acc[f] += residuals[f]
            if use_filters:
                d_filters[b, t, k, 0] = sums[3]
                d_filters[b, t, k, 1] = sums[4]
                d_filters[b, t, k, 2] = sums[5]
                d_filters[b, t, k, 3] = sums[6]
    if with_grads:
        for f in range(n_bins):
            d_protos[b, k, f] = proto_acc[f] + upper_acc[f]
    return total / (n_valid * n_bins)


@numba.njit(cache=True)
def _softplus_and_grad(distance):  # pragma: no cover - compiled
    """torch's softplus(beta=10, threshold=20) and its derivative."""
    scaled = SOFTPLUS_SHARPNESS * distance
    if scaled > SOFTPLUS_THRESHOLD:
        return distance, 1.0
    return math.log1p(math.exp(scaled)) / SOFTPLUS_SHARPNESS, 1.0 / (
        1.0 + math.exp(-scaled)
    )


@numba.njit(parallel=True, cache=True)
def _pairs_kernel(inputs, with_grads, errors, grads):  # pragma: no cover
    """E[b, k] (and local gradients) for every pair, in parallel."""
    feats, prototypes = inputs[0], inputs[1]
    n_protos = prototypes.shape[0]
    no_upstream = np.zeros((0, 0), dtype=errors.dtype)
    no_input = np.zeros((0, 0, 0), dtype=feats.dtype)
    for pair in numba.prange(feats.shape[0] * n_protos):
        b = pair // n_protos
        k = pair % n_protos
        errors[b, k] = _pair(b, k, inputs, with_grads, grads, no_upstream, no_input)


@numba.njit(parallel=True, cache=True)
def _input_grad_kernel(inputs, upstream, d_feats):  # pragma: no cover
    """dL/dx, in parallel over clips (prototypes of a clip run in turn)."""
    feats, prototypes = inputs[0], inputs[1]
    no_grad3 = np.zeros((0, 0, 0), dtype=feats.dtype)
    no_grads = (no_grad3, no_grad3, np.zeros((0, 0, 0, 0), dtype=feats.dtype), no_grad3)
    for b in numba.prange(feats.shape[0]):
        for k in range(prototypes.shape[0]):
            _pair(b, k, inputs, False, no_grads, upstream, d_feats)


def _numba_args(feats, prototypes, gain, factor, filters, counts, constants):
    """The kernels' input tuple: contiguous numpy views (placeholders for
    None), per-bin constants and which transforms are on."""
    dtype = feats.dtype

    def array(tensor, ndim):
        if tensor is None:
            return np.zeros((1,) * ndim, dtype=feats.numpy().dtype)
        return tensor.detach().to(dtype).contiguous().numpy()

    return (
        feats.detach().contiguous().numpy(),
        prototypes.detach().to(dtype).contiguous().numpy(),
        array(gain, 3),
        array(factor, 3),
        array(filters, 4),
        counts.to(torch.int64).contiguous().numpy(),
        constants.c.contiguous().numpy(),
        float(constants.bins_per_unit),
        constants.unit_freqs.to(torch.float64).contiguous().numpy(),
        gain is not None,
        factor is not None,
        filters is not None,
        constants.softplus,
    )


def _numba_forward(
    feats, prototypes, gain, factor, filters, counts, constants, with_grads
):
    """Errors and local gradients from the numba kernel."""
    batch, n_frames, n_bins = feats.shape
    n_protos = prototypes.shape[0]
    errors = torch.empty(batch, n_protos, dtype=feats.dtype)

    def buffer(tensor, shape):
        if not with_grads or tensor is None:
            return torch.zeros((1,) * len(shape), dtype=feats.dtype)
        return torch.zeros(shape, dtype=feats.dtype)

    grads = {
        "gain": buffer(gain, (batch, n_frames, n_protos)),
        "factor": buffer(factor, (batch, n_frames, n_protos)),
        "filters": buffer(filters, (batch, n_frames, n_protos, 4)),
        "prototypes": buffer(prototypes, (batch, n_protos, n_bins)),
    }
    _pairs_kernel(
        _numba_args(feats, prototypes, gain, factor, filters, counts, constants),
        with_grads,
        errors.numpy(),
        tuple(
            grads[name].numpy() for name in ("gain", "factor", "filters", "prototypes")
        ),
    )
    present = {
        "gain": gain,
        "factor": factor,
        "filters": filters,
        "prototypes": prototypes,
    }
    return errors, {
        name: grad
        for name, grad in grads.items()
        if with_grads and present[name] is not None
    }


def _numba_input_grad(
    feats, prototypes, gain, factor, filters, counts, constants, upstream
):
    grad = torch.zeros_like(feats)
    _input_grad_kernel(
        _numba_args(feats, prototypes, gain, factor, filters, counts, constants),
        upstream.detach().to(feats.dtype).contiguous().numpy(),
        grad.numpy(),
    )
    return grad


_BACKENDS = {
    "numba": (_numba_forward, _numba_input_grad),
    "torch": (_torch_forward, _torch_input_grad),
}


class _FusedErrors(torch.autograd.Function):
    """Error matrix with local gradients computed in the forward walk."""

    @staticmethod
    def forward(
        ctx,
        feats,
        prototypes,
        gain,
        factor,
        filters,
        counts,
        constants,
        backend,
        with_grads,
    ):
        forward_fn, _ = _BACKENDS[backend]
        counts = counts.to(feats.device)
        param_inputs = (prototypes, gain, factor, filters)
        errors, grads = forward_fn(
            feats, prototypes, gain, factor, filters, counts, constants, with_grads
        )
        ctx.backend = backend
        ctx.constants = constants
        ctx.has = tuple(p is not None for p in param_inputs)
        names = ("prototypes", "gain", "factor", "filters")
        ctx.grad_names = [name for name in names if name in grads]
        to_save = [grads[name] for name in ctx.grad_names]
        if ctx.needs_input_grad[0]:
            to_save += [feats, prototypes, counts] + [
                p for p in (gain, factor, filters) if p is not None
            ]
        ctx.save_for_backward(*to_save)
        return errors

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, upstream):
        # float32 also when the caller differentiates inside autocast
        with torch.autocast(upstream.device.type, enabled=False):
            upstream = full_precision(upstream)
            saved = list(ctx.saved_tensors)
            local = dict(zip(ctx.grad_names, saved[: len(ctx.grad_names)]))
            grads = {}
            if "prototypes" in local:
                grads["prototypes"] = torch.einsum(
                    "bk,bkf->kf", upstream, local["prototypes"]
                )
            per_frame = upstream.unsqueeze(1)
            for name in ("gain", "factor"):
                if name in local:
                    grads[name] = local[name] * per_frame
            if "filters" in local:
                grads["filters"] = local["filters"] * per_frame.unsqueeze(-1)
            feats_grad = None
            if ctx.needs_input_grad[0]:
                rest = saved[len(ctx.grad_names) :]
                feats, prototypes, counts = rest[:3]
                optional = iter(rest[3:])
                gain, factor, filters = (
                    next(optional) if has else None for has in ctx.has[1:]
                )
                _, input_grad_fn = _BACKENDS[ctx.backend]
                feats_grad = input_grad_fn(
                    feats,
                    prototypes,
                    gain,
                    factor,
                    filters,
                    counts,
                    ctx.constants,
                    upstream,
                )
            return (
                feats_grad,
                grads.get("prototypes"),
                grads.get("gain"),
                grads.get("factor"),
                grads.get("filters"),
                None,
                None,
                None,
                None,
            )
