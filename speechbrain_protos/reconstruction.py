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
  grad, which features from a fixed front end do not). The work is done by
  one of the backends of :mod:`speechbrain_protos.kernels`: numba on the
  CPU, a fused Triton kernel on CUDA, chunked torch code elsewhere.

Authors
 * speechbrain-protos developers 2026
"""

import torch

from speechbrain_protos.kernels import (
    ErrorInputs,
    KernelConstants,
    load_backend,
    select_backend,
)
from speechbrain_protos.lengths import frame_mask
from speechbrain_protos.precision import full_precision
from speechbrain_protos.transforms import TransformParams

IMPLEMENTATIONS = ("fused", "reference")


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
        Fused backend, ``"numba"``, ``"torch"`` or ``"triton"``; default
        :func:`speechbrain_protos.kernels.select_backend`'s choice (numba on
        the CPU, triton on CUDA; the environment variable
        ``SPEECHBRAIN_PROTOS_KERNEL`` overrides it).

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
    if impl == "fused":
        backend = select_backend(feats.device, backend)
    # Under mixed precision the networks' outputs arrive in bf16/fp16; the
    # error is a sum of B*T*K*F small squares, so it runs in float32.
    with torch.autocast(feats.device.type, enabled=False):
        feats, prototypes = full_precision(feats), full_precision(prototypes)
        params = TransformParams(*(full_precision(values) for values in params))
        if impl == "reference":
            return reference_errors(feats, prototypes, params, transforms, counts)
        return _fused_errors(feats, prototypes, params, transforms, counts, backend)


def _fused_errors(feats, prototypes, params, transforms, counts, backend):
    constants = KernelConstants(transforms, feats.dtype, feats.device)
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
        inputs = ErrorInputs(
            feats, prototypes, gain, factor, filters, counts.to(feats.device), constants
        )
        errors, grads = load_backend(backend).forward(inputs, with_grads)
        ctx.backend = backend
        ctx.constants = constants
        ctx.has = tuple(p is not None for p in (gain, factor, filters))
        names = ("prototypes", "gain", "factor", "filters")
        ctx.grad_names = [name for name in names if name in grads]
        to_save = [grads[name] for name in ctx.grad_names]
        if ctx.needs_input_grad[0]:
            to_save += [feats, prototypes, inputs.counts] + [
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
                optional = iter(rest[3:])
                gain, factor, filters = (
                    next(optional) if has else None for has in ctx.has
                )
                inputs = ErrorInputs(
                    rest[0], rest[1], gain, factor, filters, rest[2], ctx.constants
                )
                feats_grad = load_backend(ctx.backend).input_grad(inputs, upstream)
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
