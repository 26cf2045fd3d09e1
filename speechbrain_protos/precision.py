"""Mixed precision: networks may run in bf16/fp16, errors and features do not.

Under SpeechBrain's ``--precision=bf16`` (or ``fp16`` on CUDA) the Brain runs
``compute_forward`` inside ``torch.autocast``. Convolutions then run in half
precision, which is where the speed is; the log-mel front end, the
reconstruction error (a mean of B*T*K*F small squares) and every loss stay in
float32. This module holds the one cast they share.

Authors
 * speechbrain-protos developers 2026
"""

import torch

HALF_PRECISION = (torch.float16, torch.bfloat16)


def full_precision(tensor):
    """A bf16 or fp16 tensor as float32; anything else (or ``None``) as is.

    Arguments
    ---------
    tensor : torch.Tensor or None
        Any tensor, e.g. a network output under ``torch.autocast``.

    Returns
    -------
    torch.Tensor or None
        ``tensor.float()`` for half-precision floats, else ``tensor``.

    Example
    -------
    >>> full_precision(torch.ones(2, dtype=torch.bfloat16)).dtype
    torch.float32
    >>> full_precision(torch.ones(2, dtype=torch.float64)).dtype
    torch.float64
    """
    if tensor is not None and tensor.dtype in HALF_PRECISION:
        return tensor.float()
    return tensor
