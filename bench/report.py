"""What every bench script prints: its result, as one JSON line or a table,
with the facts of the machine it ran on."""

import json
import logging
import os
import platform
import sys

import torch


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


def emit(result, as_json, name):
    """Prints ``result``: one JSON line, or one ``key value`` line per entry."""
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger = logging.getLogger(name)
    for key, value in result.items():
        logger.info("%-16s %s", key, value)
