#!/usr/bin/env python3
"""Recipe: speaker identification on LibriSpeech with playable prototypes.

Run from this folder:

    python train.py hparams/librispeech.yaml --data_folder=/path/to/LibriSpeech
    torchrun --standalone --nproc_per_node=4 train.py hparams/librispeech.yaml \\
        --data_folder=/path/to/LibriSpeech

Authors
 * speechbrain-protos developers 2026
"""

import sys

from librispeech_prepare import prepare_librispeech
from speechbrain.utils.distributed import run_on_main

from speechbrain_protos.experiment import run_experiment, setup_experiment

if __name__ == "__main__":
    hparams, run_opts = setup_experiment(sys.argv[1:])
    if not hparams["skip_prep"]:
        run_on_main(
            prepare_librispeech,
            kwargs={
                "data_folder": hparams["data_folder"],
                "save_folder": hparams["save_folder"],
                "subsets": hparams["subsets"],
                "n_speakers": hparams["n_speakers"],
                "split_mode": hparams["split_mode"],
                "split_ratio": hparams["split_ratio"],
                "segment_seconds": hparams["segment_seconds"],
                "min_segment_seconds": hparams["min_segment_seconds"],
                "seed": hparams["seed"],
                "split_folder": hparams["split_folder"],
            },
        )
    run_experiment(hparams, run_opts)
