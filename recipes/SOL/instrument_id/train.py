#!/usr/bin/env python3
"""Recipe: instrument identification on SOL with playable prototypes.

Run from this folder:

    python train.py hparams/sol.yaml --data_folder=/path/to/SOL_0.9_HQ
    torchrun --standalone --nproc_per_node=4 train.py hparams/sol.yaml \\
        --data_folder=/path/to/SOL_0.9_HQ

Authors
 * speechbrain-protos developers 2026
"""

import sys

from sol_prepare import prepare_sol
from speechbrain.utils.distributed import run_on_main

from speechbrain_protos.experiment import run_experiment, setup_experiment

if __name__ == "__main__":
    hparams, run_opts = setup_experiment(sys.argv[1:])
    if not hparams["skip_prep"]:
        run_on_main(
            prepare_sol,
            kwargs={
                "data_folder": hparams["data_folder"],
                "save_folder": hparams["save_folder"],
                "split_folder": hparams["split_folder"],
                "split_ratio": hparams["split_ratio"],
                "seed": hparams["seed"],
            },
        )
    run_experiment(hparams, run_opts)
