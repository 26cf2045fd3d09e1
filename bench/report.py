"""What every bench script prints: its result, as one JSON line or a table,
with the facts of the machine it ran on."""

import json
import logging
import os
import platform
import sys

import torch

from speechbrain_protos.kernels import BACKENDS, ENVIRONMENT_VARIABLE, select_backend

BACKEND_CHOICES = (*BACKENDS, "auto")


def add_shape_arguments(parser):
    """The batch shape options of the training-step and kernel benches:
    ``--K --batch --frames --mels`` (the paper's LibriSpeech shape by
    default) and ``--steps``, the timed repeats."""
    parser.add_argument("--K", type=int, default=128, help="number of prototypes")
    parser.add_argument("--batch", type=int, default=32, help="clips per batch")
    parser.add_argument("--frames", type=int, default=192, help="frames per clip")
    parser.add_argument("--mels", type=int, default=128, help="mel bins")
    parser.add_argument("--steps", type=int, default=5, help="timed repeats")


def machine_facts():
    """Threads, cores, CPU architecture and torch version of this run."""
    return {
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "torch": torch.__version__,
    }


def cpu_model_name():
    """The CPU's model name from ``/proc/cpuinfo``, else the platform's."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fin:
            for line in fin:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_facts(device="cpu"):
    """The torch device of a run and its name: ``torch.cuda.get_device_name``
    on CUDA, the CPU's model name otherwise."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = cpu_model_name()
    return {"device": str(device), "device_name": name}


def synchronize(device):
    """Waits for the work queued on ``device`` (CUDA), so that a clock read
    after it counts that work; nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def set_kernel_backend(backend):
    """Sets ``SPEECHBRAIN_PROTOS_KERNEL`` for this process to ``backend``
    (``numba``, ``torch``, ``triton``), or clears it for ``auto``."""
    if backend == "auto":
        os.environ.pop(ENVIRONMENT_VARIABLE, None)
    else:
        os.environ[ENVIRONMENT_VARIABLE] = backend


def kernel_backend(device, impl="fused"):
    """The fused backend a call on ``device`` uses now (the argument-free
    choice: ``SPEECHBRAIN_PROTOS_KERNEL``, else the device's default), or
    ``None`` for the reference path."""
    if impl != "fused":
        return None
    return select_backend(device)


def emit(result, as_json, name):
    """Prints ``result``: one JSON line, or one ``key value`` line per entry."""
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger = logging.getLogger(name)
    for key, value in result.items():
        logger.info("%-16s %s", key, value)
