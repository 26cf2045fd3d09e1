"""The Triton program of the fused reconstruction error (no torch here).

One program instance owns a tile of ``BLOCK_K`` prototypes of one clip and
``FRAMES`` of its frames, and walks them frame by frame with all ``F`` bins
of the tile in registers (``BLOCK_F``, the next power of two). For each
frame it computes, for every (prototype, bin) of the tile, the read
position of the pitch shift, the two interpolated prototype bins (gathers
from the small ``[K, F]`` table, cached), the gain and filter terms and the
error ``R - x``; the only traffic to memory is the frame of features and
the per-frame parameters in, and per-(frame, prototype) sums out:

* always, the squared error, summed over the tile's frames and added to
  ``E[b, k]`` (``atomic_add``: the frames of a clip are split over
  programs, so that short batches still fill the device);
* ``WITH_GRADS``: the local gradients of ``E[b, k]`` with respect to gain,
  pitch factor and the four filter values of each frame (bin sums of the
  residual, stored), and the per-clip prototype gradient ``[B, K, F]``,
  summed over the tile's frames in registers and added once at the end.
  Without pitch each bin feeds itself. With pitch each output bin feeds the
  two prototype bins it read, and several output bins read the same
  prototype bin wherever the shift stretches the spectrum; that scatter is
  a per-row reduction in registers and shared memory
  (:func:`interpolation_adjoint`), not two global atomics per element.
  Which of the two is faster on a GPU has not been measured.
* ``INPUT_GRAD``: ``-sum_k upstream[b, k] r[b, t, k, f]`` added into
  ``dL/dx[b, t]``.

Precision. Everything is float32. The pitch position of output bin f is
``f + bins_per_unit * log1p(c_f (1 / factor - 1))``. Where
``1 + c_f (1 / factor - 1)`` lies in [1/e, e] the log1p is the odd series
``2 atanh(u)``, ``u = x / (2 + x)``, to 12 terms (truncation below 2e-9;
no cancellation near 0, where a plain ``log(1 + x)`` loses every digit of a
small x); elsewhere ``log(1 + x)`` is far from 0 and a float32 log is
accurate to its relative precision. The position then carries a few
float32 ulps of the shift (at most F bins) and of c and 1 / factor: its
error stays below 2.5e-7 x F bins, measured against float64 for factors
from 1/8 to 8 by ``tests/unittests/test_kernels.py`` (1.9e-5 bins at 128
mel bins, 5.2e-5 at 256; a plain float32 ``log(1 + x)`` is as good for the
mel warp but 8.5e-3 bins off for the authors' linear one, whose
``c_f (1 / factor - 1)`` is tiny). Linear
interpolation is continuous, so a position that lands on the other side of
a bin boundary than float64's changes the reconstruction by the same few
ulps, not by a jump.

Authors
 * speechbrain-protos developers 2026
"""

import math

import triton
import triton.language as tl

from speechbrain_protos import transforms

# Triton reads only constexpr globals. They stand right of a tensor in every
# product: the interpreter makes constexpr * tensor a constexpr.
SERIES_TERMS = tl.constexpr(12)  # log1p series terms: u^23 / 23 < 2e-9 at |u| 0.46
E = tl.constexpr(math.e)
INV_E = tl.constexpr(math.exp(-1.0))
FILTER_SPAN = tl.constexpr(transforms.FILTER_SPAN)
SOFTPLUS_SHARPNESS = tl.constexpr(transforms.SOFTPLUS_SHARPNESS)
SOFTPLUS_THRESHOLD = tl.constexpr(transforms.SOFTPLUS_THRESHOLD)


@triton.jit
def log1p(x):
    """float32 log(1 + x), accurate to a few ulps for every x > -1."""
    w = 1.0 + x
    u = x / (2.0 + x)
    u2 = u * u
    acc = 1.0 / (2 * SERIES_TERMS - 1)
    for term in tl.static_range(SERIES_TERMS - 2, -1, -1):
        acc = acc * u2 + 1.0 / (2 * term + 1)
    series = 2.0 * u * acc
    in_range = (w >= INV_E) & (w <= E)
    return tl.where(in_range, series, tl.log(tl.where(in_range, 1.0, w)))


@triton.jit
def pitch_positions(c, factor, bins, bins_per_unit):
    """Unclamped read positions ``[BLOCK_K, BLOCK_F]`` of the pitch shift
    (eq. 2) for factors ``[BLOCK_K]``, and ``c_f (1 / factor - 1)``."""
    shift_arg = c[None, :] * (1.0 / factor - 1.0)[:, None]
    return bins[None, :] + bins_per_unit * log1p(shift_arg), shift_arg


@triton.jit
def segment_sums(prefix, ends, starts):
    """Per row, ``prefix[ends - 1] - prefix[starts - 1]`` (0 where the index
    is -1): the sum of the values whose prefix sums ``prefix`` holds, over
    positions ``starts`` to ``ends - 1``."""
    upto_end = tl.gather(prefix, tl.maximum(ends - 1, 0), axis=1)
    upto_start = tl.gather(prefix, tl.maximum(starts - 1, 0), axis=1)
    return tl.where(ends > 0, upto_end, 0.0) - tl.where(starts > 0, upto_start, 0.0)


@triton.jit
def interpolation_adjoint(residual, weight, lower):
    """The prototype gradient of one frame, ``[BLOCK_K, BLOCK_F]``: output
    bin f sends ``residual (1 - weight)`` to prototype bin ``lower`` and
    ``residual weight`` to ``lower + 1``; without atomics.

    Read positions grow with f (the warp is monotone, and float32's error
    is far below the at least 1/e bin a position advances per output bin
    for factors up to e, the decoders' default range), so the output bins
    that read one prototype bin j are consecutive, and the
    ``ends[j] = #{f : lower[f] <= j}`` of a per-row histogram's prefix sum
    delimit them: each bin's sum is a difference of prefix sums of the
    residual terms, read at those counts (``tl.gather``)."""
    n_rows: tl.constexpr = residual.shape[0]
    n_cols: tl.constexpr = residual.shape[1]
    rows = tl.arange(0, n_rows)[:, None] * n_cols
    flat = tl.reshape(rows + lower, [n_rows * n_cols])
    counts = tl.reshape(tl.histogram(flat, n_rows * n_cols), [n_rows, n_cols])
    ends = tl.cumsum(counts, axis=1)
    starts = ends - counts
    spread = residual * weight
    to_lower = segment_sums(tl.cumsum(residual - spread, axis=1), ends, starts)
    to_next = segment_sums(tl.cumsum(spread, axis=1), ends, starts)
    # bin j receives the spread of the output bins whose lower bin is j - 1
    cols = tl.arange(0, n_cols)[None, :] + tl.zeros([n_rows, n_cols], tl.int32)
    from_previous = tl.gather(to_next, tl.maximum(cols - 1, 0), axis=1)
    return to_lower + tl.where(cols > 0, from_previous, 0.0)


@triton.jit
def hinge(distance):
    """The hinge filter's knee (relu) and its derivative (a step)."""
    return tl.where(distance > 0.0, distance, 0.0), tl.where(distance > 0.0, 1.0, 0.0)


@triton.jit
def softplus(distance):
    """The authors' soft knee, torch's softplus (beta 10, threshold 20), and
    its derivative (a sigmoid)."""
    scaled = distance * SOFTPLUS_SHARPNESS
    linear = scaled > SOFTPLUS_THRESHOLD
    safe = tl.where(linear, 0.0, scaled)
    value = tl.where(linear, distance, log1p(tl.exp(safe)) / SOFTPLUS_SHARPNESS)
    return value, tl.where(linear, 1.0, 1.0 / (1.0 + tl.exp(-safe)))


@triton.jit
def errors_program(
    feats,
    prototypes,
    gain,
    factor,
    filters,
    counts,
    c_table,
    unit_freqs,
    upstream,
    errors,
    d_gain,
    d_factor,
    d_filters,
    d_prototypes,
    d_feats,
    n_frames,
    n_protos,
    n_bins,
    bins_per_unit,
    USE_GAIN: tl.constexpr,
    USE_PITCH: tl.constexpr,
    USE_FILTERS: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    WITH_GRADS: tl.constexpr,
    INPUT_GRAD: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_F: tl.constexpr,
    FRAMES: tl.constexpr,
):
    """One (clip, prototype tile, frame tile) of the error matrix; see the
    module's docstring. Pointers are to contiguous float32 tensors (int64
    for ``counts``); unused ones may point anywhere."""
    b = tl.program_id(0)
    ks = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    first = tl.program_id(2) * FRAMES
    fs = tl.arange(0, BLOCK_F)
    k_ok = ks < n_protos
    f_ok = fs < n_bins
    tile_ok = k_ok[:, None] & f_ok[None, :]
    n_valid = tl.load(counts + b).to(tl.int32)
    stop = tl.minimum(first + FRAMES, n_valid)
    scale = 2.0 / (n_valid * n_bins).to(tl.float32)
    rows = prototypes + ks[:, None] * n_bins
    c = tl.load(c_table + fs, mask=f_ok, other=0.0)
    freqs = tl.load(unit_freqs + fs, mask=f_ok, other=0.0)
    bins = fs.to(tl.float32)
    last = (n_bins - 1).to(tl.float32)
    table = tl.load(rows + fs[None, :], mask=tile_ok, other=0.0)
    total = tl.zeros([BLOCK_K], dtype=tl.float32)
    table_grad = tl.zeros([BLOCK_K, BLOCK_F], dtype=tl.float32)
    if INPUT_GRAD:
        pull = tl.load(upstream + b * n_protos + ks, mask=k_ok, other=0.0)
    for t in range(first, stop):
        frame = b * n_frames + t
        per_frame = frame * n_protos + ks  # index of (b, t, k) in [B, T, K]
        x = tl.load(feats + frame * n_bins + fs, mask=f_ok, other=0.0)
        recon = table
        if USE_PITCH:
            s = tl.load(factor + per_frame, mask=k_ok, other=1.0)
            raw, shift_arg = pitch_positions(c, s, bins, bins_per_unit)
            position = tl.minimum(tl.maximum(raw, 0.0), last)
            lower = tl.minimum(position.to(tl.int32), n_bins - 1)
            weight = position - lower.to(tl.float32)
            upper = tl.minimum(lower + 1, n_bins - 1)
            below = tl.load(rows + lower, mask=tile_ok, other=0.0)
            above = tl.load(rows + upper, mask=tile_ok, other=0.0)
            recon = below + weight * (above - below)
        if USE_GAIN:
            recon += tl.load(gain + per_frame, mask=k_ok, other=0.0)[:, None]
        if USE_FILTERS:
            values = filters + per_frame * 4
            low_cut = tl.load(values, mask=k_ok, other=0.0)
            low_slope = tl.load(values + 1, mask=k_ok, other=0.0)
            high_cut = tl.load(values + 2, mask=k_ok, other=0.0)
            high_slope = tl.load(values + 3, mask=k_ok, other=0.0)
            low_distance = (low_cut[:, None] - freqs[None, :]) * FILTER_SPAN
            high_distance = (freqs[None, :] - high_cut[:, None]) * FILTER_SPAN
            if SOFTPLUS:
                low_knee, low_grad = softplus(low_distance)
                high_knee, high_grad = softplus(high_distance)
            else:
                low_knee, low_grad = hinge(low_distance)
                high_knee, high_grad = hinge(high_distance)
            recon += low_slope[:, None] * low_knee + high_slope[:, None] * high_knee
        error = tl.where(tile_ok, recon - x[None, :], 0.0)
        total += tl.sum(error * error, axis=1)
        residual = scale * error
        if INPUT_GRAD:
            pulled = tl.sum(pull[:, None] * residual, axis=0)
            tl.atomic_add(
                d_feats + frame * n_bins + fs, -pulled, mask=f_ok, sem="relaxed"
            )
        if WITH_GRADS:
            if USE_GAIN:
                tl.store(d_gain + per_frame, tl.sum(residual, axis=1), mask=k_ok)
            if USE_PITCH:
                inside = (raw >= 0.0) & (raw <= last)
                slope = tl.where(
                    inside,
                    -bins_per_unit
                    * c[None, :]
                    / ((s * s)[:, None] * (1.0 + shift_arg)),
                    0.0,
                )
                pitch_grad = tl.sum(residual * (above - below) * slope, axis=1)
                tl.store(d_factor + per_frame, pitch_grad, mask=k_ok)
                table_grad += interpolation_adjoint(residual, weight, lower)
            else:
                table_grad += residual
            if USE_FILTERS:
                outputs = d_filters + per_frame * 4
                low_cut_grad = tl.sum(residual * low_grad, axis=1)
                high_cut_grad = tl.sum(residual * high_grad, axis=1)
                tl.store(outputs, low_slope * low_cut_grad * FILTER_SPAN, mask=k_ok)
                tl.store(outputs + 1, tl.sum(residual * low_knee, axis=1), mask=k_ok)
                tl.store(
                    outputs + 2, -high_slope * high_cut_grad * FILTER_SPAN, mask=k_ok
                )
                tl.store(outputs + 3, tl.sum(residual * high_knee, axis=1), mask=k_ok)
    if first < n_valid:
        mean = total / (n_valid * n_bins).to(tl.float32)
        tl.atomic_add(errors + b * n_protos + ks, mean, mask=k_ok, sem="relaxed")
        if WITH_GRADS:
            grad_rows = d_prototypes + (b * n_protos + ks[:, None]) * n_bins
            tl.atomic_add(
                grad_rows + fs[None, :], table_grad, mask=tile_ok, sem="relaxed"
            )
