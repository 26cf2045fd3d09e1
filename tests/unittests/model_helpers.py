"""A small model folder with non-trivial weights, and the command line, for
the inference tests."""

import subprocess
import sys

import torch

from speechbrain_protos.features import LogMel
from speechbrain_protos.lobes import PrototypeReconstructor
from speechbrain_protos.model_folder import model_config, write_model_folder

RATE = 16000
CLASSES = ["cello", "flute", "oboe"]


def make_model_folder(folder, seed=0, n_prototypes=3, rate=RATE, **write_options):
    """Writes a model folder; returns its path and the model."""
    torch.manual_seed(seed)
    logmel = LogMel(sample_rate=rate, n_fft=512, hop_length=256, n_mels=32)
    model = PrototypeReconstructor(
        n_prototypes, n_mels=32, sample_rate=rate, start_dim=4, n_pools=2
    )
    with torch.no_grad():
        for decoder in model.decoders.values():
            decoder.head.weight.normal_(0, 0.05)
        model.prototypes.uniform_(0.2, 0.8)
        model.typical_gain.uniform_(-0.1, 0.1)
    config = model_config(logmel, model, CLASSES[:n_prototypes])
    folder = write_model_folder(
        str(folder), config, model.state_dict(), **write_options
    )
    return folder, model


def run_cli(*args, stdin=None):
    """``python -m speechbrain_protos ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "speechbrain_protos", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        input=stdin,
    )
