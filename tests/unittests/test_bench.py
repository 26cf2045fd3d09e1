"""bench/train_step.py keeps its command-line contract."""

import json
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "bench" / "train_step.py"
TINY = ["--K", "4", "--batch", "2", "--frames", "24", "--mels", "32", "--steps", "2"]


def run_bench(*extra):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, *extra, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0])


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_prints_one_json_line(impl):
    result = run_bench("--impl", impl)
    assert result["impl"] == impl
    assert (result["K"], result["batch"], result["frames"], result["mels"]) == (
        4,
        2,
        24,
        32,
    )
    assert result["step_s"] > 0 and result["peak_rss_mib"] > 0
    assert result["params"] > 0


def test_both_impls_train_the_same_model():
    fused, reference = run_bench("--impl", "fused"), run_bench("--impl", "reference")
    assert fused["params"] == reference["params"]
    assert abs(fused["first_loss"] - reference["first_loss"]) < 1e-5 * abs(
        reference["first_loss"]
    )
