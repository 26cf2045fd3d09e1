"""Backends of the fused reconstruction error, behind one small interface.

Each backend is a module with two functions over :class:`ErrorInputs`:

* ``forward(inputs, with_grads)`` returns the error matrix ``[B, K]`` and a
  dict of local gradients (``"gain"``, ``"factor"`` ``[B, T, K]``,
  ``"filters"`` ``[B, T, K, 4]``, ``"prototypes"`` ``[B, K, F]``; only the
  active ones, and none without ``with_grads``): the derivatives of
  ``E[b, k]`` with respect to each per-frame parameter and, per clip, to
  the prototypes;
* ``input_grad(inputs, upstream)`` returns ``dL/dx`` ``[B, T, F]`` for an
  incoming ``dL/dE`` ``[B, K]``.

Backends: ``numba`` (CPU), ``torch`` (chunked torch code, any device) and
``triton`` (one fused Triton kernel; CUDA, or Triton's interpreter on CPU
tensors). :func:`select_backend` picks one per device; the environment
variable ``SPEECHBRAIN_PROTOS_KERNEL`` overrides the choice for a process.

Authors
 * speechbrain-protos developers 2026
"""

import importlib
import importlib.util
import logging
import os
from typing import NamedTuple, Optional

import torch

BACKENDS = ("numba", "torch", "triton")
# the local gradients, in the order the compiled kernels take their buffers
GRAD_NAMES = ("gain", "factor", "filters", "prototypes")
ENVIRONMENT_VARIABLE = "SPEECHBRAIN_PROTOS_KERNEL"
logger = logging.getLogger(__name__)
_announced = set()


class KernelConstants:
    """Per-bin constants of the transforms on one device (c_f and the
    scale of :func:`speechbrain_protos.transforms.pitch_warp_constants`).

    Arguments
    ---------
    transforms : SpectralTransforms
        The mel layout (pitch warp, filter shape).
    dtype : torch.dtype
        Dtype of the unit frequencies (the features' dtype).
    device : torch.device
        Where the kernels run.

    Example
    -------
    >>> from speechbrain_protos.transforms import SpectralTransforms
    >>> constants = KernelConstants(SpectralTransforms(8, 16000), torch.float32, "cpu")
    >>> constants.c.dtype, constants.c.shape, constants.softplus
    (torch.float64, torch.Size([8]), False)
    """

    def __init__(self, transforms, dtype, device):
        self.bins_per_unit = transforms.bins_per_unit
        self.c = transforms.warp_c.to(device)
        self.unit_freqs = transforms.unit_freqs.to(device, dtype)
        self.softplus = transforms.filter_shape == "softplus"


class ErrorInputs(NamedTuple):
    """What every backend reads: inputs ``None`` where a transform is off.

    ``feats`` ``[B, T, F]``, ``prototypes`` ``[K, F]``, ``gain`` and
    ``factor`` ``[B, T, K]``, ``filters`` ``[B, T, K, 4]``, ``counts`` long
    ``[B]`` valid frames per clip, ``constants`` a :class:`KernelConstants`.
    """

    feats: torch.Tensor
    prototypes: torch.Tensor
    gain: Optional[torch.Tensor]
    factor: Optional[torch.Tensor]
    filters: Optional[torch.Tensor]
    counts: torch.Tensor
    constants: KernelConstants


def local_grad_shapes(inputs):
    """The shape of each local gradient a backend returns (see the module
    docstring), in the order of :data:`GRAD_NAMES`, whether or not its
    input is active.

    Example
    -------
    >>> inputs = ErrorInputs(torch.zeros(2, 5, 8), torch.zeros(3, 8),
    ...                      None, None, None, torch.tensor([5, 4]), None)
    >>> local_grad_shapes(inputs)["filters"], local_grad_shapes(inputs)["prototypes"]
    ((2, 5, 3, 4), (2, 3, 8))
    """
    batch, n_frames, n_bins = inputs.feats.shape
    n_protos = inputs.prototypes.shape[0]
    per_frame = (batch, n_frames, n_protos)
    shapes = {
        "gain": per_frame,
        "factor": per_frame,
        "filters": (*per_frame, 4),
        "prototypes": (batch, n_protos, n_bins),
    }
    return {name: shapes[name] for name in GRAD_NAMES}


def triton_available():
    """Whether the ``triton`` package can be imported (it ships with
    torch's CUDA wheels on Linux; not on macOS or Windows)."""
    return importlib.util.find_spec("triton") is not None


def select_backend(device, requested=None):
    """The backend to use for tensors on ``device``.

    An explicit ``requested`` name wins, then the environment variable
    ``SPEECHBRAIN_PROTOS_KERNEL``; otherwise triton on CUDA when it can be
    imported, torch on other accelerators, numba on the CPU. The choice is
    logged once per (device type, backend).

    Arguments
    ---------
    device : torch.device or str
        Where the inputs live.
    requested : str, optional
        One of :data:`BACKENDS`, or ``None`` for the default.

    Returns
    -------
    str
        A name in :data:`BACKENDS`.

    Example
    -------
    >>> select_backend("cpu", requested="torch")
    'torch'
    >>> select_backend("cpu") in ("numba", os.environ.get(ENVIRONMENT_VARIABLE))
    True
    """
    device_type = torch.device(device).type
    source = "argument"
    name = requested
    if name is None and os.environ.get(ENVIRONMENT_VARIABLE):
        name, source = os.environ[ENVIRONMENT_VARIABLE], ENVIRONMENT_VARIABLE
    if name is None:
        source = "default"
        if device_type == "cpu":
            name = "numba"
        elif device_type == "cuda" and triton_available():
            name = "triton"
        else:
            name = "torch"
    if name not in BACKENDS:
        raise ValueError(
            f"backend must be one of {BACKENDS}; got {name!r} (from {source})"
        )
    if name == "numba" and device_type != "cpu":
        raise ValueError(
            f"the numba backend runs on the CPU only; the inputs are on "
            f"{device_type} (from {source}): use 'torch' or 'triton'"
        )
    if (device_type, name) not in _announced:
        _announced.add((device_type, name))
        logger.info(
            "Reconstruction error on %s: %s backend (%s)", device_type, name, source
        )
    return name


def load_backend(name):
    """The module of backend ``name`` (imported on first use, so that a
    CUDA-only environment never imports numba, nor a CPU one triton).

    Example
    -------
    >>> load_backend("torch").__name__
    'speechbrain_protos.kernels.torch_errors'
    """
    return importlib.import_module(f"{__name__}.{name}_errors")
