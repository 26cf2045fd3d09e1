"""A trained recipe run, exported, moved and loaded back offline."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from recipe_helpers import RECIPES, SOL_CLASSES

from speechbrain_protos.audio import read_audio
from speechbrain_protos.export import RunFolderError, export_model
from speechbrain_protos.inference import PrototypeClassifier


def training_time_model(run_folder, data_folder):
    """The model as the run tested it: its YAML, its best checkpoint."""
    with open(RECIPES["sol"] / "hparams" / "sol.yaml", encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(
            fin,
            {
                "data_folder": str(data_folder),
                "output_folder": str(run_folder),
                "n_classes": SOL_CLASSES,
            },
        )
    hparams["checkpointer"].recover_if_possible(min_key=hparams["best_checkpoint_key"])
    return hparams["compute_features"].eval(), hparams["model"].eval()


def test_round_trip_gives_the_training_time_errors(
    sol_supervised_run, fsdd_as_sol, tmp_path, monkeypatch
):
    exported = export_model(sol_supervised_run, tmp_path / "exported")
    moved = tmp_path / "elsewhere" / "my_model"
    moved.parent.mkdir()
    shutil.move(exported, moved)
    for path in moved.iterdir():  # nothing points back to the run or the disk
        text = path.read_bytes()
        assert str(sol_supervised_run).encode() not in text, path.name
        assert str(tmp_path).encode() not in text, path.name
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # no file is found relative to the cwd
    model = PrototypeClassifier.from_hparams(source=str(moved))

    logmel, trained = training_time_model(sol_supervised_run, fsdd_as_sol)
    expected_state = trained.state_dict()
    loaded_state = model.mods.model.state_dict()
    assert expected_state.keys() == loaded_state.keys()
    for key, value in expected_state.items():
        assert torch.equal(value, loaded_state[key]), key

    test_manifest = json.loads((sol_supervised_run / "save" / "test.json").read_text())
    files = [
        entry["wav"].format(data_root=fsdd_as_sol)
        for entry in list(test_manifest.values())[:4]
    ]
    for path in files:
        wav = read_audio(path, logmel.sample_rate)
        with torch.no_grad():
            expected = trained(logmel(wav[None]))[0]
        assert torch.equal(model.file_errors(path), expected), path
        out_prob, score, index, text_lab = model.classify_file(path)
        assert int(index[0]) == int(expected.argmin())
        assert text_lab[0] == model.class_names[int(expected.argmin())]
        assert torch.allclose(out_prob.sum(), torch.tensor(1.0))
    card = (moved / "README.md").read_text()
    results = json.loads((sol_supervised_run / "test_results.json").read_text())
    assert f"{results['OA']:.1f}" in card and "from_hparams" in card


def test_exported_model_matches_the_runs_test_scores(sol_supervised_run, tmp_path):
    model = PrototypeClassifier.from_hparams(
        source=export_model(sol_supervised_run, tmp_path / "m")
    )
    results = json.loads((sol_supervised_run / "test_results.json").read_text())
    config = json.loads((sol_supervised_run / "model_config.json").read_text())
    assert model.class_names == config["class_names"]
    assert len(model.class_names) == SOL_CLASSES == len(results["per_class"])


def test_unsupervised_export_names_clusters_by_class(
    sol_unsupervised_run, fsdd_as_sol, tmp_path
):
    model = PrototypeClassifier.from_hparams(
        source=export_model(sol_unsupervised_run, tmp_path / "m")
    )
    config = json.loads((sol_unsupervised_run / "model_config.json").read_text())
    assert config["mode"] == "unsupervised"
    assert model.prototype_classes.tolist() == config["prototype_classes"]
    test_manifest = json.loads(
        (sol_unsupervised_run / "save" / "test.json").read_text()
    )
    entry = next(iter(test_manifest.values()))
    errors = model.file_errors(entry["wav"].format(data_root=fsdd_as_sol))
    named = errors.masked_fill(model.prototype_classes < 0, float("inf"))
    _, _, index, text_lab = model.classify_file(
        entry["wav"].format(data_root=fsdd_as_sol)
    )
    assert int(index[0]) == config["prototype_classes"][int(named.argmin())]
    assert text_lab[0] == model.class_names[int(index[0])]


def test_export_lists_every_missing_file(sol_supervised_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sol_supervised_run, run, symlinks=True)
    os.remove(run / "test_results.json")
    config = json.loads((run / "model_config.json").read_text())
    shutil.rmtree(run / config["checkpoint"])
    with pytest.raises(RunFolderError) as error:
        export_model(run, tmp_path / "m")
    message = str(error.value)
    assert "test_results.json" in message
    assert os.path.join(config["checkpoint"], "model.ckpt") in message
    assert not (tmp_path / "m").exists()  # nothing written on failure


def test_export_refuses_to_overwrite_a_model(sol_supervised_run, tmp_path):
    export_model(sol_supervised_run, tmp_path / "m")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_model(sol_supervised_run, tmp_path / "m")
    export_model(sol_supervised_run, tmp_path / "m", overwrite=True)


def test_cli_exports_and_classifies(sol_supervised_run, fsdd_as_sol, tmp_path):
    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "speechbrain_protos", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=300,
        )

    process = cli("export", sol_supervised_run, "--out", tmp_path / "m", "--onnx")
    assert process.returncode == 0, process.stderr
    assert (tmp_path / "m" / "model.onnx").stat().st_size > 0
    files = sorted(str(p) for p in fsdd_as_sol.rglob("*.wav"))[:3]
    process = cli("classify", tmp_path / "m", *files, "--json")
    assert process.returncode == 0, process.stderr
    records = [json.loads(line) for line in process.stdout.splitlines()]
    assert [r["file"] for r in records] == files
    model = PrototypeClassifier.from_hparams(source=str(tmp_path / "m"))
    for record in records:
        _, score, _, text_lab = model.classify_file(record["file"])
        assert record["label"] == text_lab[0]
        assert record["score"] == pytest.approx(float(score[0]))
        assert sum(record["probabilities"].values()) == pytest.approx(1.0)
    process = cli("classify", tmp_path / "m", tmp_path / "missing.wav")
    assert process.returncode == 1
    assert "missing.wav" in process.stderr and "Traceback" not in process.stderr
    process = cli("export", tmp_path / "nowhere", "--out", tmp_path / "x")
    assert process.returncode == 1 and "nowhere" in process.stderr
