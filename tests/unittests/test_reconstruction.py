"""The fused reconstruction error is held to the reference path.

Every backend: numba (CPU), torch (any device) and triton, which runs on
CUDA where there is a device and otherwise under Triton's interpreter (the
repository's conftest.py switches it on), on CPU tensors.
"""

import itertools
import math

import pytest
import torch

from speechbrain_protos.kernels import triton_available
from speechbrain_protos.reconstruction import (
    reconstruct_chosen,
    reconstruction_errors,
)
from speechbrain_protos.transforms import SpectralTransforms, TransformParams

# Part of the smoke subset of make check-latest and make check-oldest.
pytestmark = pytest.mark.smoke

NEEDS_TRITON = pytest.mark.skipif(
    not triton_available(), reason="triton is not installed on this platform"
)
BACKENDS = ["numba", "torch", pytest.param("triton", marks=NEEDS_TRITON)]
# The Triton kernel computes in float32: float64 gradcheck is for the others.
FLOAT64_BACKENDS = ["numba", "torch"]
ACTIVE_SETS = [
    (),
    ("gain",),
    ("pitch",),
    ("filters",),
    ("gain", "pitch"),
    ("gain", "pitch", "filters"),
]
# (batch, frames, prototypes, bins, valid frame counts)
SHAPES = [
    (3, 7, 4, 16, [7, 4, 1]),  # odd T, padded batch
    (2, 5, 1, 8, [5, 5]),  # K = 1
    (1, 1, 3, 12, [1]),  # a single frame
    (4, 33, 6, 32, [33, 30, 17, 2]),
]


def make_inputs(
    batch, frames, protos, bins, counts, active, dtype=torch.float32, seed=0
):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.rand(*shape, generator=generator, dtype=dtype)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=dtype)

    size = (batch, frames, protos)
    params = TransformParams(
        gain=0.3 * randn(*size) if "gain" in active else None,
        factor=torch.exp(0.5 * randn(*size)) if "pitch" in active else None,
        filters=torch.stack(
            [rand(*size), 0.3 * randn(*size), rand(*size), 0.3 * randn(*size)], -1
        )
        if "filters" in active
        else None,
    )
    feats = rand(batch, frames, bins)
    prototypes = rand(protos, bins)
    return feats, prototypes, params, torch.tensor(counts)


def kernel_device(backend):
    """Where a backend's test runs: triton on CUDA when there is a device."""
    if backend == "triton" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def on_kernel_device(backend, feats, prototypes, params):
    """Features, prototypes and parameters moved to the backend's device."""
    device = kernel_device(backend)
    moved = (None if p is None else p.to(device) for p in params)
    return feats.to(device), prototypes.to(device), TransformParams(*moved)


def errors_and_grads(feats, prototypes, params, transforms, counts, upstream, **kwargs):
    """Errors and the gradients of ``(errors * upstream).sum()`` with respect
    to features, prototypes and every active parameter, on the backend's
    device, returned on the CPU."""
    device = kernel_device(kwargs.get("backend"))
    upstream = upstream.to(device)
    leaves = [feats, prototypes] + [p for p in params if p is not None]
    leaves = [leaf.detach().to(device).requires_grad_() for leaf in leaves]
    rest = iter(leaves[2:])
    leaf_params = TransformParams(
        *(next(rest) if p is not None else None for p in params)
    )
    errors = reconstruction_errors(
        leaves[0], leaves[1], leaf_params, transforms, counts, **kwargs
    )
    grads = torch.autograd.grad((errors * upstream).sum(), leaves)
    return errors.detach().cpu(), [grad.cpu() for grad in grads]


def assert_fused_matches_reference(
    feats, prototypes, params, transforms, counts, upstream, backend
):
    """Errors within 1e-5 and gradients within 1e-4 of the reference path."""
    reference = errors_and_grads(
        feats, prototypes, params, transforms, counts, upstream, impl="reference"
    )
    fused = errors_and_grads(
        feats, prototypes, params, transforms, counts, upstream, backend=backend
    )
    torch.testing.assert_close(fused[0], reference[0], rtol=1e-5, atol=1e-7)
    for grad, ref in zip(fused[1], reference[1]):
        torch.testing.assert_close(
            grad, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item() + 1e-8
        )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("active", ACTIVE_SETS, ids=lambda a: "+".join(a) or "raw")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:4])))
def test_fused_matches_reference_values_and_gradients(backend, active, shape):
    transforms = SpectralTransforms(shape[3], 16000)
    feats, prototypes, params, counts = make_inputs(*shape, active)
    upstream = torch.randn(
        shape[0], shape[2], generator=torch.Generator().manual_seed(1)
    )
    ref_errors, ref_grads = errors_and_grads(
        feats, prototypes, params, transforms, counts, upstream, impl="reference"
    )
    errors, grads = errors_and_grads(
        feats,
        prototypes,
        params,
        transforms,
        counts,
        upstream,
        impl="fused",
        backend=backend,
    )
    torch.testing.assert_close(errors, ref_errors, rtol=1e-5, atol=1e-7)
    for grad, ref in zip(grads, ref_grads):
        torch.testing.assert_close(
            grad, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item() + 1e-8
        )


@pytest.mark.parametrize("warp", ["mel", "linear"])
def test_pitch_factors_inside_and_outside_the_log1p_series_range(warp):
    """The numba kernel's log1p series covers factors in [1/e, e]; frames
    beyond take the library's log1p. Both match the reference."""
    transforms = SpectralTransforms(32, 16000, pitch_warp=warp)
    feats, prototypes, params, counts = make_inputs(
        2, 6, 3, 32, [6, 4], ("gain", "pitch"), dtype=torch.float64, seed=3
    )
    factors = torch.tensor([0.2, 1 / math.e, 0.5, 1.0, 2.0, math.e, 3.0, 8.0])
    factor = factors[torch.arange(2 * 6 * 3) % 8].reshape(2, 6, 3).double()
    params = params._replace(factor=factor)
    upstream = torch.randn(2, 3, generator=torch.Generator().manual_seed(2))
    reference = errors_and_grads(
        feats, prototypes, params, transforms, counts, upstream, impl="reference"
    )
    fused = errors_and_grads(
        feats, prototypes, params, transforms, counts, upstream, backend="numba"
    )
    torch.testing.assert_close(fused[0], reference[0], rtol=1e-9, atol=1e-12)
    *grads, factor_grad = fused[1]
    *reference_grads, reference_factor_grad = reference[1]
    for grad, ref in zip(grads, reference_grads):
        torch.testing.assert_close(grad, ref, rtol=1e-7, atol=1e-10)
    # At a factor of exactly 1 every position lands on a bin, where linear
    # interpolation has a kink: the left and right derivatives differ (0.095
    # and -0.119 at one frame here), and which one autograd returns is a
    # convention of the ops (torch 2.11's reference agreed with the kernel,
    # torch 2.14's does not). Compare the factor gradient off the kink.
    smooth = factor != 1.0
    torch.testing.assert_close(
        factor_grad[smooth], reference_factor_grad[smooth], rtol=1e-7, atol=1e-10
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "warp, shape", list(itertools.product(["mel", "linear"], ["hinge", "softplus"]))
)
def test_fused_matches_reference_for_every_variant(backend, warp, shape):
    transforms = SpectralTransforms(16, 44100, pitch_warp=warp, filter_shape=shape)
    dims = SHAPES[0]
    feats, prototypes, params, counts = make_inputs(
        *dims, ("gain", "pitch", "filters"), seed=5
    )
    upstream = torch.rand(dims[0], dims[2])
    ref_errors, ref_grads = errors_and_grads(
        feats, prototypes, params, transforms, counts, upstream, impl="reference"
    )
    errors, grads = errors_and_grads(
        feats, prototypes, params, transforms, counts, upstream, backend=backend
    )
    torch.testing.assert_close(errors, ref_errors, rtol=1e-5, atol=1e-7)
    for grad, ref in zip(grads, ref_grads):
        torch.testing.assert_close(
            grad, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item() + 1e-8
        )


@pytest.mark.parametrize("backend", FLOAT64_BACKENDS)
@pytest.mark.parametrize("filter_shape", ["hinge", "softplus"])
def test_gradcheck_float64(backend, filter_shape):
    transforms = SpectralTransforms(8, 16000, filter_shape=filter_shape)
    feats, prototypes, params, counts = make_inputs(
        2, 3, 2, 8, [3, 2], ("gain", "pitch", "filters"), dtype=torch.float64, seed=2
    )
    inputs = [t.requires_grad_() for t in (feats, prototypes, *params)]

    def fn(feats, prototypes, gain, factor, filters):
        params = TransformParams(gain, factor, filters)
        return reconstruction_errors(
            feats, prototypes, params, transforms, counts, backend=backend
        )

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_grad_path_gives_the_same_errors(backend):
    transforms = SpectralTransforms(32, 16000)
    feats, prototypes, params, counts = make_inputs(
        *SHAPES[3], ("gain", "pitch", "filters")
    )
    reference = reconstruction_errors(
        feats, prototypes, params, transforms, counts, impl="reference"
    )
    with torch.no_grad():
        fused = reconstruction_errors(
            *on_kernel_device(backend, feats, prototypes, params),
            transforms,
            counts,
            backend=backend,
        )
    torch.testing.assert_close(fused.cpu(), reference, rtol=1e-5, atol=1e-7)


IMPLEMENTATIONS = [
    ("reference", None),
    ("fused", "numba"),
    ("fused", "torch"),
    pytest.param("fused", "triton", marks=NEEDS_TRITON),
]


@pytest.mark.parametrize("impl, backend", IMPLEMENTATIONS)
def test_padded_frames_do_not_count(impl, backend):
    transforms = SpectralTransforms(16, 16000)
    feats, prototypes, params, counts = make_inputs(
        *SHAPES[0], ("gain", "pitch", "filters")
    )
    feats, prototypes, params = on_kernel_device(backend, feats, prototypes, params)
    before = reconstruction_errors(
        feats, prototypes, params, transforms, counts, impl=impl, backend=backend
    )
    garbage_feats = feats.clone()
    garbage_feats[1, 4:] = 100.0
    garbage_params = TransformParams(*(p.clone() for p in params))
    garbage_params.gain[2, 1:] = 7.0
    after = reconstruction_errors(
        garbage_feats,
        prototypes,
        garbage_params,
        transforms,
        counts,
        impl=impl,
        backend=backend,
    )
    assert torch.equal(before, after)


def test_chosen_reconstruction_matches_the_full_tensor():
    transforms = SpectralTransforms(16, 16000)
    feats, prototypes, params, counts = make_inputs(
        *SHAPES[0], ("gain", "pitch", "filters")
    )
    full = transforms(prototypes, params)  # [B, T, K, F]
    choice = torch.tensor([3, 0, 2])
    chosen = reconstruct_chosen(prototypes, params, choice, transforms, feats.shape[1])
    assert torch.equal(chosen, full[torch.arange(3), :, choice])
    raw = reconstruct_chosen(prototypes, TransformParams(), choice, transforms, 7)
    assert raw.shape == (3, 7, 16) and torch.equal(raw[:, 4], prototypes[choice])


def test_unknown_impl_or_backend_raises():
    transforms = SpectralTransforms(8, 16000)
    feats, prototypes, params, counts = make_inputs(*SHAPES[1], ())
    with pytest.raises(ValueError, match="impl"):
        reconstruction_errors(
            feats, prototypes, params, transforms, counts, impl="fast"
        )
    with pytest.raises(ValueError, match="backend"):
        reconstruction_errors(
            feats, prototypes, params, transforms, counts, backend="cuda"
        )


@pytest.mark.parametrize("impl, backend", IMPLEMENTATIONS)
def test_half_precision_inputs_give_float32_errors_and_gradients(impl, backend):
    """Under autocast (``--precision=bf16``) the networks' bf16 outputs are
    taken up to float32: the errors equal the float32 errors of the same
    values, and each input's gradient comes back in its own dtype."""
    shape = SHAPES[3]
    transforms = SpectralTransforms(shape[3], 16000)
    feats, prototypes, params, counts = make_inputs(
        *shape, ("gain", "pitch", "filters")
    )
    half = TransformParams(*(p.to(torch.bfloat16) for p in params))
    widened = TransformParams(*(p.float() for p in half))
    upstream = torch.rand(
        shape[0], shape[2], generator=torch.Generator().manual_seed(2)
    )
    expected, expected_grads = errors_and_grads(
        feats,
        prototypes,
        widened,
        transforms,
        counts,
        upstream,
        impl=impl,
        backend=backend,
    )
    with torch.autocast(kernel_device(backend).type, dtype=torch.bfloat16):
        errors, grads = errors_and_grads(
            feats,
            prototypes,
            half,
            transforms,
            counts,
            upstream,
            impl=impl,
            backend=backend,
        )
    assert errors.dtype == torch.float32
    torch.testing.assert_close(errors, expected, rtol=1e-6, atol=1e-8)
    assert [grad.dtype for grad in grads] == [torch.float32] * 2 + [torch.bfloat16] * 3
    torch.testing.assert_close(grads[1], expected_grads[1], rtol=1e-5, atol=1e-7)
    for grad, ref in zip(grads[2:], expected_grads[2:]):
        torch.testing.assert_close(grad, ref.to(torch.bfloat16))
    chosen = reconstruct_chosen(
        prototypes, half, torch.tensor([0, 5, 1, 2]), transforms, shape[1]
    )
    assert chosen.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fused_matches_reference():
    transforms = SpectralTransforms(32, 16000).cuda()
    feats, prototypes, params, counts = make_inputs(
        *SHAPES[3], ("gain", "pitch", "filters")
    )
    feats, prototypes = feats.cuda(), prototypes.cuda()
    params = TransformParams(*(p.cuda() for p in params))
    upstream = torch.rand(SHAPES[3][0], SHAPES[3][2], device="cuda")
    ref_errors, ref_grads = errors_and_grads(
        feats, prototypes, params, transforms, counts, upstream, impl="reference"
    )
    errors, grads = errors_and_grads(
        feats, prototypes, params, transforms, counts, upstream
    )
    torch.testing.assert_close(errors, ref_errors, rtol=1e-5, atol=1e-7)
    for grad, ref in zip(grads, ref_grads):
        torch.testing.assert_close(
            grad, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item() + 1e-8
        )
