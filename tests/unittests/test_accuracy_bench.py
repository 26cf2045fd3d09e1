"""bench/accuracy.py trains what its config names and writes the tables
from the runs' own result files."""

import json
import os
import pathlib
import subprocess
import sys

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "accuracy.py"
TINY_CONFIG = {
    "datasets": {
        "fsdd": {
            "title": "FSDD (tiny)",
            "recipe": "LibriSpeech",
            "prepare": "fsdd",
            "data_folder": "{shared_data}/fsdd/recordings",
            "max_index": 12,
            "overrides": {"n_speakers": 6, "train_crop_frames": 16},
        }
    },
    "models": {
        "ours_supervised": {
            "title": "Ours w/ supervision",
            "hparams": "{recipe}.yaml",
            "overrides": {
                "number_of_epochs": 2,
                "lr": 0.003,
                "curriculum": {
                    "stages": ["raw", "gain"],
                    "patience": 1,
                    "max_epochs": 1,
                    "warmup_steps": 0,
                },
            },
        },
        "direct_classification": {
            "title": "Direct classification",
            "hparams": "direct_classification.yaml",
            "overrides": {"number_of_epochs": 2, "lr": 0.003},
        },
        "ecapa_tdnn": {
            "title": "ECAPA-TDNN",
            "hparams": "ecapa_tdnn.yaml",
            "overrides": {"number_of_epochs": 1},
        },
    },
    "common_overrides": {
        "dataloader_options": {"batch_size": 16, "shuffle": True, "num_workers": 0},
        "test_dataloader_options": {
            "batch_size": 16,
            "shuffle": False,
            "num_workers": 0,
        },
        "noprogressbar": True,
    },
}


def run(tmp_path, shared_data, *extra):
    env = dict(os.environ, SB_PROTOS_SHARED_DATA=str(shared_data))
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--config",
            str(tmp_path / "config.yaml"),
            "--results",
            str(tmp_path / "results"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_trains_the_chosen_models_and_writes_every_table(tmp_path, shared_data):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    done = run(
        tmp_path, shared_data, "--models", "ours_supervised,direct_classification"
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = tmp_path / "results"
    for model in ("ours_supervised", "direct_classification"):
        info = json.loads(
            (results / "accuracy" / "fsdd" / model / "bench_run.json").read_text()
        )
        assert info["wall_seconds"] > 0 and "train.py" in info["command"]
    table3 = (results / "table3_classification.md").read_text()
    scores = json.loads(
        (
            results
            / "accuracy"
            / "fsdd"
            / "direct_classification"
            / "test_results.json"
        ).read_text()
    )
    row = next(line for line in table3.splitlines() if line.startswith("| Direct"))
    assert f"| {scores['OA']:.1f} | {scores['AA']:.1f} | — |" in row
    assert "129,368" not in row and "| 126," not in row  # 6 classes, not 128
    ecapa = next(line for line in table3.splitlines() if line.startswith("| ECAPA"))
    assert "not run yet" in ecapa  # a model not run keeps its row
    assert "python bench/accuracy.py" in table3
    table1 = (results / "table1_transformations.md").read_text()
    assert "| Raw prototypes |" in table1 and "| + gain |" in table1
    # The tables come from the runs' files: rewriting them changes nothing
    # but the date line.
    before = table3
    again = run(tmp_path, shared_data, "--tables-only")
    assert again.returncode == 0, again.stderr[-4000:]
    after = (results / "table3_classification.md").read_text()
    assert without_date(after) == without_date(before)
    # A data set's own budget for one model: only that run trains again.
    config = dict(TINY_CONFIG)
    config["datasets"] = {
        "fsdd": dict(
            TINY_CONFIG["datasets"]["fsdd"],
            model_overrides={"direct_classification": {"number_of_epochs": 1}},
        )
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    ours_info = results / "accuracy" / "fsdd" / "ours_supervised" / "bench_run.json"
    ours_before = ours_info.read_text()
    changed = run(
        tmp_path, shared_data, "--models", "ours_supervised,direct_classification"
    )
    assert changed.returncode == 0, changed.stderr[-4000:]
    assert "direct_classification: the config changed" in changed.stderr
    assert "ours_supervised: finished before, reused" in changed.stderr
    assert ours_info.read_text() == ours_before
    retrained = json.loads(
        (
            results / "accuracy" / "fsdd" / "direct_classification" / "bench_run.json"
        ).read_text()
    )
    assert "--number_of_epochs=1" in retrained["command"]
    assert retrained["wall_seconds"] > 0


def without_date(text):
    return [line for line in text.splitlines() if not line.startswith("- Written")]


def test_unknown_model_is_a_clear_error(tmp_path, shared_data):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    done = run(tmp_path, shared_data, "--models", "resnet")
    assert done.returncode != 0
    assert "unknown models ['resnet']" in done.stderr


def test_verdicts_count_each_transformation_and_the_cross_entropy_step():
    sys.path.insert(0, str(SCRIPT.parent))
    from accuracy import transformation_verdicts

    def row(oa, rec):
        return {"OA": str(oa), "L_rec": str(rec)}

    stages = {
        "raw": {"supervised": row(50.0, 9.0)},
        "gain": {"supervised": row(60.0, 5.0)},
        "pitch": {"supervised": row(55.0, 4.0)},
        "filters": {"supervised": row(70.0, 4.5)},
        "ce_temperature": {"supervised": row(80.0, 6.0)},
    }
    lines = transformation_verdicts(stages)
    assert lines[0].startswith(
        "- Supervised: adding a transformation lowered L_rec in 2 of 3 steps "
        "and raised OA in 2 of 3"
    )
    assert "pitch: OA -5.0, L_rec -1.00" in lines[0]
    assert lines[1].startswith("- Supervised, adding L_ce: OA +10.0, L_rec +1.50")
    del stages["ce_temperature"]
    assert not any("L_ce" in line for line in transformation_verdicts(stages))
