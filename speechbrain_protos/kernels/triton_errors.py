"""Triton backend of the fused reconstruction error: CUDA, or Triton's
interpreter on CPU tensors.

Launches :func:`speechbrain_protos.kernels.triton_program.errors_program`
over a grid of (clip, tile of ``BLOCK_K`` prototypes, tile of ``FRAMES``
frames). Computes in float32 whatever the inputs' dtype and returns the
inputs' dtype. The sums that several programs share (the errors, the
prototype gradients, ``dL/dx``) are float atomics, so their last bits may
change from run to run.

With ``TRITON_INTERPRET=1`` in the environment before triton is imported,
the same program runs under Triton's interpreter (numpy, one program
instance at a time), on CPU tensors too: orders of magnitude slower than
the numba backend, there so that the kernel is tested without a GPU.

Authors
 * speechbrain-protos developers 2026
"""

import logging

import torch
import triton
from triton.runtime.interpreter import InterpretedFunction

from speechbrain_protos.kernels import local_grad_shapes, triton_program

BLOCK_K = 16  # prototypes per program
FRAMES = 32  # frames per program
NUM_WARPS = 8  # with 4 the training variant spilled (triton_compile_check.py)
logger = logging.getLogger(__name__)
_warned = []


def interpreted():
    """Whether the program runs under Triton's interpreter: the environment
    variable ``TRITON_INTERPRET=1`` was set before triton was imported.

    Example
    -------
    >>> import os
    >>> interpreted() == (os.environ.get("TRITON_INTERPRET") == "1")
    True
    """
    return isinstance(triton_program.errors_program, InterpretedFunction)


def _program(device):
    if device.type == "cuda" or (device.type == "cpu" and interpreted()):
        if device.type == "cpu" and not _warned:
            _warned.append(True)
            logger.warning(
                "The Triton kernel runs under Triton's interpreter on the CPU: "
                "for tests; the numba backend is the fast one there"
            )
        return triton_program.errors_program
    raise ValueError(
        f"the triton backend runs on CUDA, or on the CPU under Triton's "
        f"interpreter (TRITON_INTERPRET=1 set before triton is imported); the "
        f"inputs are on {device.type}: use the numba or torch backend"
    )


def _launch(inputs, with_grads, upstream=None):
    """Runs the program once; returns errors, local gradients and dL/dx."""
    feats = inputs.feats
    batch, n_frames, n_bins = feats.shape
    n_protos = inputs.prototypes.shape[0]
    options = {"dtype": torch.float32, "device": feats.device}
    placeholder = torch.zeros(1, **options)

    def as_float32(tensor):
        if tensor is None:
            return placeholder
        return tensor.detach().to(torch.float32).contiguous()

    shapes = local_grad_shapes(inputs)
    grads = {
        name: torch.zeros(shape, **options)
        for name, shape in shapes.items()
        if with_grads and getattr(inputs, name) is not None
    }
    errors = torch.zeros(batch, n_protos, **options)
    d_feats = torch.zeros(feats.shape, **options) if upstream is not None else None
    constants = inputs.constants
    grid = (
        batch,
        triton.cdiv(n_protos, BLOCK_K),
        triton.cdiv(n_frames, FRAMES),
    )
    _program(feats.device)[grid](
        as_float32(feats),
        as_float32(inputs.prototypes),
        as_float32(inputs.gain),
        as_float32(inputs.factor),
        as_float32(inputs.filters),
        inputs.counts.to(feats.device, torch.int64).contiguous(),
        as_float32(constants.c),
        as_float32(constants.unit_freqs),
        as_float32(upstream),
        errors,
        *(grads.get(name, placeholder) for name in shapes),
        placeholder if d_feats is None else d_feats,
        n_frames,
        n_protos,
        n_bins,
        float(constants.bins_per_unit),
        USE_GAIN=inputs.gain is not None,
        USE_PITCH=inputs.factor is not None,
        USE_FILTERS=inputs.filters is not None,
        SOFTPLUS=constants.softplus,
        WITH_GRADS=with_grads,
        INPUT_GRAD=upstream is not None,
        BLOCK_K=BLOCK_K,
        BLOCK_F=triton.next_power_of_2(n_bins),
        FRAMES=FRAMES,
        num_warps=NUM_WARPS,
    )
    dtype = feats.dtype
    grads = {name: grad.to(dtype) for name, grad in grads.items()}
    return errors.to(dtype), grads, None if d_feats is None else d_feats.to(dtype)


def forward(inputs, with_grads):
    """Errors and local gradients (see :mod:`speechbrain_protos.kernels`)."""
    errors, grads, _ = _launch(inputs, with_grads)
    return errors, grads


def input_grad(inputs, upstream):
    """dL/dx, recomputed by the same program (``INPUT_GRAD``)."""
    return _launch(inputs, with_grads=False, upstream=upstream)[2]
