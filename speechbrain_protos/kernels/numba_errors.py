"""Numba backend of the fused reconstruction error: the CPU.

The kernel walks each (clip, prototype) pair once, in parallel over pairs,
skips padded frames, and computes the errors and, when asked, the local
gradients in the same walk. Pitch positions are computed in float64, as
the reference path, so both agree on which two bins each output bin
interpolates.

Authors
 * speechbrain-protos developers 2026
"""

import math
from collections import namedtuple

import numba
import numpy as np
import torch

from speechbrain_protos.kernels import GRAD_NAMES, local_grad_shapes
from speechbrain_protos.transforms import (
    FILTER_SPAN,
    SOFTPLUS_SHARPNESS,
    SOFTPLUS_THRESHOLD,
)

LOG1P_TERMS = 13  # terms of the kernel's log1p series
# Frames whose pitch factor keeps 1 + c (1/factor - 1) in the series' range
# (c in [0, 1)); others use the library's log1p.
SERIES_LOW, SERIES_HIGH = math.exp(-1.0), math.exp(1.0)

# What the compiled kernels read (numba takes a named tuple as a struct):
# numpy views of the inputs (placeholders of shape (1, ...) for inactive
# transforms), the per-bin constants and which transforms are on.
NumbaInputs = namedtuple(
    "NumbaInputs",
    "feats prototypes gain factor filters counts c bins_per_unit unit_freqs "
    "use_gain use_pitch use_filters softplus",
)


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

    ``inputs`` is a :class:`NumbaInputs`. With ``with_grads`` it
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
    feats, prototypes, counts = inputs.feats, inputs.prototypes, inputs.counts
    gain, factor, filters = inputs.gain, inputs.factor, inputs.filters
    c, bins_per_unit, unit_freqs = inputs.c, inputs.bins_per_unit, inputs.unit_freqs
    use_gain, use_pitch = inputs.use_gain, inputs.use_pitch
    use_filters, softplus = inputs.use_filters, inputs.softplus
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
    feats, prototypes = inputs.feats, inputs.prototypes
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
    feats, prototypes = inputs.feats, inputs.prototypes
    no_grad3 = np.zeros((0, 0, 0), dtype=feats.dtype)
    no_grads = (no_grad3, no_grad3, np.zeros((0, 0, 0, 0), dtype=feats.dtype), no_grad3)
    for b in numba.prange(feats.shape[0]):
        for k in range(prototypes.shape[0]):
            _pair(b, k, inputs, False, no_grads, upstream, d_feats)


def _numba_inputs(inputs):
    """The kernels' :class:`NumbaInputs`: contiguous numpy views
    (placeholders for ``None``), per-bin constants and which transforms are
    on."""
    feats, constants = inputs.feats, inputs.constants
    dtype = feats.dtype

    def array(tensor, ndim):
        if tensor is None:
            return np.zeros((1,) * ndim, dtype=feats.numpy().dtype)
        return tensor.detach().to(dtype).contiguous().numpy()

    return NumbaInputs(
        feats=feats.detach().contiguous().numpy(),
        prototypes=array(inputs.prototypes, 2),
        gain=array(inputs.gain, 3),
        factor=array(inputs.factor, 3),
        filters=array(inputs.filters, 4),
        counts=inputs.counts.to(torch.int64).contiguous().numpy(),
        c=constants.c.contiguous().numpy(),
        bins_per_unit=float(constants.bins_per_unit),
        unit_freqs=constants.unit_freqs.to(torch.float64).contiguous().numpy(),
        use_gain=inputs.gain is not None,
        use_pitch=inputs.factor is not None,
        use_filters=inputs.filters is not None,
        softplus=constants.softplus,
    )


def forward(inputs, with_grads):
    """Errors and local gradients from the numba kernel (see
    :mod:`speechbrain_protos.kernels`)."""
    dtype = inputs.feats.dtype
    errors = torch.empty(inputs.feats.shape[0], inputs.prototypes.shape[0], dtype=dtype)
    present = {name: getattr(inputs, name) is not None for name in GRAD_NAMES}
    grads = {
        name: torch.zeros(
            shape if with_grads and present[name] else (1,) * len(shape), dtype=dtype
        )
        for name, shape in local_grad_shapes(inputs).items()
    }
    _pairs_kernel(
        _numba_inputs(inputs),
        with_grads,
        errors.numpy(),
        tuple(grads[name].numpy() for name in GRAD_NAMES),
    )
    if not with_grads:
        return errors, {}
    return errors, {name: grad for name, grad in grads.items() if present[name]}


def input_grad(inputs, upstream):
    """dL/dx from the numba kernel, in parallel over clips."""
    grad = torch.zeros_like(inputs.feats)
    _input_grad_kernel(
        _numba_inputs(inputs),
        upstream.detach().to(inputs.feats.dtype).contiguous().numpy(),
        grad.numpy(),
    )
    return grad
