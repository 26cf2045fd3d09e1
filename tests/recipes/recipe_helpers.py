"""Helpers of the recipe tests: run a recipe as users do, read its outputs."""

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
RECIPES = {
    "sol": REPO / "recipes" / "SOL" / "instrument_id",
    "librispeech": REPO / "recipes" / "LibriSpeech" / "speaker_id",
}
# A tiny curriculum and loaders, sized for a 2-core CPU in seconds.
TINY = [
    "--lr=0.002",
    "--curriculum={patience: 2, max_epochs: 2, warmup_steps: 0}",
    "--dataloader_options={batch_size: 8, shuffle: True, num_workers: 0}",
    "--test_dataloader_options={batch_size: 8, shuffle: False, num_workers: 0}",
    "--noprogressbar",
]
FSDD_CLIPS_PER_DIGIT = 3  # per speaker: 10 digits x 3 = 30 clips
SOL_CLASSES = 6  # FSDD's six speakers stand in for six instruments
SOL_TINY = TINY + [
    f"--n_classes={SOL_CLASSES}",
    "--train_crop_frames=32",
    "--number_of_epochs=8",
]


def load_prepare_module(recipe):
    """Imports a recipe's ``*_prepare.py`` (recipes are not a package)."""
    path = next(RECIPES[recipe].glob("*_prepare.py"))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_recipe(recipe, hparams_file, args, nproc=1, timeout=600):
    """Runs ``train.py`` from the recipe folder; returns the finished process."""
    if nproc > 1:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
        ]
    else:
        launcher = [sys.executable]
    command = launcher + ["train.py", f"hparams/{hparams_file}", *args]
    env = dict(os.environ)
    if nproc > 1:  # share the cores between processes
        env["OMP_NUM_THREADS"] = "1"
        env["NUMBA_NUM_THREADS"] = "1"
    return subprocess.run(
        command,
        cwd=RECIPES[recipe],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def assert_ok(process):
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-5000:]


def finished_sol_run(data_folder, output_folder, hparams_file, *extra):
    """Runs the SOL recipe to the end (tiny sizes); returns its output folder."""
    process = run_recipe(
        "sol",
        hparams_file,
        [
            f"--data_folder={data_folder}",
            f"--output_folder={output_folder}",
            *extra,
            *SOL_TINY,
        ],
    )
    assert_ok(process)
    return output_folder


EPOCH_LINE = re.compile(
    r"epoch: (\d+)(?:, stage: (\w+))?, .* - train (.*?)(?: - valid (.*))?$"
)


def _stats(text):
    """``"loss: 1e-2, train OA: 50.0"`` -> ``{"loss": 0.01, "OA": 50.0}``."""
    if not text:
        return {}
    stats = {}
    for item in text.split(", "):
        key, value = item.split(": ")
        stats[key.split(" ")[-1]] = float(value)
    return stats


def parse_train_log(path):
    """Epoch rows of a train_log.txt: epoch, stage, train and valid stats."""
    rows = []
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        match = EPOCH_LINE.match(line)
        if match:
            rows.append(
                {
                    "epoch": int(match.group(1)),
                    "stage": match.group(2),
                    "train": _stats(match.group(3)),
                    "valid": _stats(match.group(4)),
                }
            )
    return rows


def read_results(folder):
    return json.loads(
        (pathlib.Path(folder) / "test_results.json").read_text(encoding="utf-8")
    )
