"""The model-folder format: strict and safe loading, the old format, atomic
writes and the Hugging Face model card."""

import errno
import json
import os
import pathlib
import re
import signal
import subprocess
import sys

import pytest
import safetensors.torch
import torch
from huggingface_hub import ModelCard
from model_helpers import CLASSES, RATE, make_model_folder
from model_helpers import run_cli as cli

from speechbrain_protos import model_folder as mf
from speechbrain_protos.features import LogMel
from speechbrain_protos.inference import PrototypeClassifier
from speechbrain_protos.lobes import PrototypeReconstructor
from speechbrain_protos.model_folder import (
    ModelFolderError,
    model_config,
    write_model_folder,
)
from speechbrain_protos.yaml_guard import UnsafeYamlError, check_inference_yaml

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
LEGACY_FOLDER = REPO / "tests" / "fixtures" / "legacy_model_folder"
LEGACY_ERRORS = REPO / "tests" / "fixtures" / "legacy_expected_errors.json"


@pytest.fixture
def model_folder(tmp_path):
    return make_model_folder(tmp_path / "model")[0]


def weights_path(folder):
    return os.path.join(folder, mf.WEIGHTS_FILE)


def read_state(folder):
    return safetensors.torch.load_file(weights_path(folder))


def write_state(folder, state):
    safetensors.torch.save_file(state, weights_path(folder))


def load(folder, **kwargs):
    return PrototypeClassifier.from_hparams(source=str(folder), **kwargs)


# ---- Loading ---------------------------------------------------------------
@pytest.mark.smoke
def test_loaded_weights_are_the_saved_ones(tmp_path):
    folder, model = make_model_folder(tmp_path / "m")
    assert sorted(os.listdir(folder)) == [
        "README.md",
        "hyperparams.yaml",
        "label_encoder.txt",
        "model.safetensors",
    ]
    classifier = load(folder)
    loaded = classifier.mods.model
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert not loaded.training
    assert classifier.class_names == CLASSES


def test_missing_folder_is_an_error_not_a_hub_lookup(tmp_path):
    with pytest.raises(ModelFolderError, match="no_such_model"):
        load(tmp_path / "no_such_model")


@pytest.mark.parametrize(
    "name", ["hyperparams.yaml", "model.safetensors", "label_encoder.txt"]
)
def test_missing_file_is_named(model_folder, name):
    os.remove(os.path.join(model_folder, name))
    with pytest.raises(ModelFolderError, match=f"missing: {name}"):
        load(model_folder)


def test_missing_and_misshaped_parameters_fail(model_folder):
    state = read_state(model_folder)
    del state["typical_gain"]
    write_state(model_folder, state)
    with pytest.raises(ModelFolderError, match="missing typical_gain"):
        load(model_folder)
    state["typical_gain"] = torch.zeros(3)
    state["prototypes"] = torch.zeros(3, 16)
    write_state(model_folder, state)
    with pytest.raises(ModelFolderError, match=r"prototypes has shape \[3, 16\]"):
        load(model_folder)


def test_unexpected_parameter_fails(model_folder):
    state = read_state(model_folder)
    state["protos"] = state.pop("prototypes")
    write_state(model_folder, state)
    with pytest.raises(ModelFolderError, match="unexpected protos"):
        load(model_folder)


def test_non_finite_weights_are_refused(model_folder):
    state = read_state(model_folder)
    state["prototypes"][0, 3] = float("nan")
    write_state(model_folder, state)
    with pytest.raises(ModelFolderError, match="non-finite values in prototypes"):
        load(model_folder)


def test_damaged_weights_are_named(model_folder):
    path = weights_path(model_folder)
    data = pathlib.Path(path).read_bytes()
    pathlib.Path(path).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFolderError, match="not a readable safetensors file"):
        load(model_folder)


@pytest.mark.parametrize(
    "text, message",
    [
        ("'cello' => 0\n'flute' => 0\n'oboe' => 2\n", "line 2: index 0 is taken"),
        ("'cello' => 0\n'flute' => 1\n'oboe' => 3\n", "indices must be 0..n-1"),
        ("'cello' => 0\nflute => 1\n", "line 2 is not 'label' => index"),
        ("'cello' => 0\n__import__('os') => 1\n", "line 2 is not"),
        ("'cello' => 0\n'flute' => 1\n", "prototype_classes"),
        ("", "indices must be 0..n-1"),
    ],
)
def test_a_tampered_label_file_is_refused(model_folder, text, message):
    path = os.path.join(model_folder, mf.LABELS_FILE)
    pathlib.Path(path).write_text(text)
    with pytest.raises(ModelFolderError, match=message):
        load(model_folder)


def test_bad_prototype_classes_fail(model_folder):
    path = pathlib.Path(model_folder, "hyperparams.yaml")
    text = path.read_text()
    path.write_text(
        text.replace("prototype_classes: [0, 1, 2]", "prototype_classes: [0, 1]")
    )
    with pytest.raises(ModelFolderError, match="prototype_classes"):
        load(model_folder)


def test_a_newer_format_is_refused_by_name(model_folder):
    path = pathlib.Path(model_folder, "hyperparams.yaml")
    path.write_text(path.read_text().replace("format_version: 2", "format_version: 3"))
    with pytest.raises(ModelFolderError, match="format 3; .* up to 2: upgrade"):
        load(model_folder)


def test_a_shared_savedir_is_never_written_nor_read(tmp_path):
    """Folders load in place: two models given one savedir each get their
    own weights, and nothing lands in the savedir for another to pick up."""
    first, model_a = make_model_folder(tmp_path / "a", seed=0)
    second, model_b = make_model_folder(tmp_path / "b", seed=1)
    cache = tmp_path / "cache"
    cache.mkdir()
    a = load(first, savedir=str(cache))
    b = load(second, savedir=str(cache))
    assert torch.equal(a.mods.model.prototypes, model_a.prototypes)
    assert torch.equal(b.mods.model.prototypes, model_b.prototypes)
    assert list(cache.iterdir()) == []


def test_an_unusable_device_is_named(model_folder):
    if torch.cuda.is_available():
        pytest.skip("the machine has a CUDA device")
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        load(model_folder, run_opts={"device": "cuda:0"})
    done = cli("classify", model_folder, "x.wav", "--device", "cuda:0")
    assert done.returncode == 1
    assert "torch sees no CUDA device" in done.stderr
    assert "does not fit" not in done.stderr


def test_loading_says_nothing_on_the_terminal(model_folder, tmp_path, librispeech_flac):
    done = cli("classify", model_folder, librispeech_flac)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


# ---- Folders of the old format (model.ckpt) ------------------------------------
def test_a_folder_of_the_old_format_gives_the_same_errors(tmp_path, shared_data):
    """The fixture was written, and its errors computed, by the code before
    safetensors (tests/fixtures/make_legacy_model_folder.py). Today's loader
    gives those errors, and bit-identical ones once the same weights are
    written in today's format."""
    expected = json.loads(LEGACY_ERRORS.read_text())
    recording = str(shared_data / expected["recording"])
    legacy = load(LEGACY_FOLDER)
    errors = legacy.file_errors(recording)
    torch.testing.assert_close(
        errors, torch.tensor(expected["errors"]), rtol=1e-5, atol=0
    )
    files = mf.check_model_folder(LEGACY_FOLDER)
    assert files.version == 1 and files.weights.endswith("model.ckpt")
    config = model_config(
        legacy.mods.compute_features, legacy.mods.model, legacy.class_names
    )
    rewritten = write_model_folder(
        str(tmp_path / "new"), config, legacy.mods.model.state_dict()
    )
    assert torch.equal(load(rewritten).file_errors(recording), errors)


class _Payload:
    """Pickles into a call of os.system when unpickled."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("force_full_unpickler", [False, True])
def test_a_checkpoint_that_would_run_code_is_refused(
    tmp_path, monkeypatch, force_full_unpickler
):
    """A pickle payload in an old-format model.ckpt: refused by name, nothing
    runs, also with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (which turns
    torch.load's default into the full unpickler)."""
    if force_full_unpickler:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    folder = tmp_path / "legacy"
    folder.mkdir()
    for entry in LEGACY_FOLDER.iterdir():
        (folder / entry.name).write_bytes(entry.read_bytes())
    marker = tmp_path / "ran"
    checkpoint = str(folder / "model.ckpt")
    state = torch.load(checkpoint, weights_only=True)
    state["evil"] = _Payload(f"touch {marker}")
    torch.save(state, checkpoint)
    with pytest.raises(ModelFolderError, match="not a checkpoint of plain tensors"):
        load(folder)
    assert not marker.exists()
    state["evil"] = torch.tensor([float("inf")])
    torch.save(state, checkpoint)
    with pytest.raises(ModelFolderError, match="non-finite values in evil"):
        load(folder)


def test_no_torch_load_without_weights_only():
    """Every torch.load of the library, the benches and the recipes reads
    tensors only."""
    offenders = []
    for folder in ("speechbrain_protos", "bench", "recipes"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for match in re.finditer(r"torch\.load\(", text):
                call = text[match.end() : text.find(")", match.end()) + 1]
                if "weights_only=True" not in call:
                    line = text.count("\n", 0, match.start()) + 1
                    offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert offenders == []


# ---- A model folder is data ---------------------------------------------------
def payloads(marker):
    """YAML lines that, loaded by HyperPyYAML, would create ``marker``."""
    command = f"touch {marker}"
    return {
        "apply": f"evil: !apply:os.system ['{command}']",
        "new": f"evil: !new:subprocess.Popen\n    args: ['touch', '{marker}']",
        "name": "evil: !name:os.system",
        "module": "evil: !module:os",
        "include": "evil: !include:other.yaml",
        "python-tag": f"evil: !!python/object/apply:os.system ['{command}']",
    }


@pytest.mark.parametrize("kind", list(payloads("m")))
def test_a_folder_whose_yaml_would_run_code_is_refused(model_folder, tmp_path, kind):
    """Loading refuses the folder, names the line, and runs nothing (the
    payload would create a marker file)."""
    marker = tmp_path / "ran"
    yaml_path = os.path.join(model_folder, "hyperparams.yaml")
    with open(yaml_path, encoding="utf-8") as fin:
        lines = fin.read().splitlines()
    lines.insert(8, payloads(marker)[kind])
    with open(yaml_path, "w", encoding="utf-8") as fout:
        fout.write("\n".join(lines) + "\n")
    with pytest.raises(UnsafeYamlError, match=rf"{yaml_path}, line 9: ") as refused:
        load(model_folder)
    assert "a model folder is data" in str(refused.value)
    assert not marker.exists()
    done = cli("render", model_folder, "--out", tmp_path / "out", "--duration", "0.1")
    assert done.returncode == 1 and not marker.exists()
    assert done.stderr.startswith("error: refusing ") and "line 9" in done.stderr


def test_the_written_yaml_passes_the_check(model_folder):
    check_inference_yaml(os.path.join(model_folder, "hyperparams.yaml"))


def test_a_tampered_model_config_cannot_write_yaml(tmp_path):
    """Config values are written as quoted scalars and keys must be
    argument names, so model_config.json cannot inject tags."""
    logmel = LogMel(sample_rate=RATE, n_fft=256, hop_length=128, n_mels=16)
    model = PrototypeReconstructor(2, n_mels=16, start_dim=4, n_pools=2)
    config = model_config(logmel, model, CLASSES[:2])
    marker = tmp_path / "ran"
    config["mode"] = f"supervised\nevil: !apply:os.system ['touch {marker}']"
    folder = write_model_folder(str(tmp_path / "model"), config, model.state_dict())
    check_inference_yaml(os.path.join(folder, "hyperparams.yaml"))
    config["compute_features"]["x: !apply:os.system ['true']\n y"] = 1
    with pytest.raises(ValueError, match="not an argument name"):
        write_model_folder(str(tmp_path / "other"), config, model.state_dict())
    assert not marker.exists()


# ---- Atomic writes ------------------------------------------------------------
KILLED_WRITE = """
import os, signal, sys
sys.path.insert(0, {helpers!r})
from model_helpers import make_model_folder
real_fsync, written = os.fsync, []

def fsync_then_die(fd):
    real_fsync(fd)
    written.append(fd)
    if len(written) == {files_before_kill}:
        os.kill(os.getpid(), signal.SIGKILL)

os.fsync = fsync_then_die
make_model_folder({folder!r}, seed=1, overwrite=True)
"""


@pytest.mark.parametrize("files_before_kill", [1, 3])
def test_an_export_killed_between_files_leaves_the_old_folder(
    model_folder, tmp_path, files_before_kill
):
    before = {
        name: pathlib.Path(model_folder, name).read_bytes()
        for name in os.listdir(model_folder)
    }
    script = KILLED_WRITE.format(
        helpers=str(HERE), folder=model_folder, files_before_kill=files_before_kill
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=300)
    assert done.returncode == -signal.SIGKILL
    after = {
        name: pathlib.Path(model_folder, name).read_bytes()
        for name in os.listdir(model_folder)
    }
    assert after == before
    load(model_folder)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".partial-")]
    assert len(leftovers) == 1
    # The next write replaces the folder whole.
    _, model = make_model_folder(model_folder, seed=1, overwrite=True)
    assert torch.equal(load(model_folder).mods.model.prototypes, model.prototypes)


def test_out_of_space_is_one_clear_error_and_keeps_the_old_folder(
    model_folder, tmp_path, monkeypatch
):
    before = read_state(model_folder)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(mf.os, "fsync", full)
    with pytest.raises(ModelFolderError, match=f"no space left .*{model_folder}"):
        make_model_folder(model_folder, seed=1, overwrite=True)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    for key, value in load(model_folder).mods.model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_a_folder_with_other_files_is_never_replaced(model_folder):
    pathlib.Path(model_folder, "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"not a model folder's \(notes.txt\)"):
        make_model_folder(model_folder, seed=1, overwrite=True)
    assert pathlib.Path(model_folder, "notes.txt").read_text() == "mine"


def test_an_existing_model_needs_overwrite(model_folder):
    with pytest.raises(FileExistsError, match="overwrite"):
        make_model_folder(model_folder, seed=1)


# ---- The model card -------------------------------------------------------------
def test_the_card_is_a_valid_hugging_face_model_card(tmp_path):
    results = {
        "OA": 91.25,
        "AA": 90.5,
        "L_rec": 3.2,
        "n_clips": 30,
        "per_class": {name: {"accuracy": 90.0, "clips": 10} for name in CLASSES},
    }
    folder, _ = make_model_folder(
        tmp_path / "speakers",
        results=results,
        license="cc-by-4.0",
        datasets=["openslr/librispeech_asr"],
    )
    text = pathlib.Path(folder, "README.md").read_text()
    assert "$" not in text.replace("$$", "")
    card = ModelCard(text)
    data = card.data
    assert data.library_name == "speechbrain"
    assert data.license == "cc-by-4.0"
    assert data.pipeline_tag == "audio-classification"
    assert data.datasets == ["openslr/librispeech_asr"]
    assert "speechbrain-protos" in data.tags
    assert {(r.metric_name, r.metric_value) for r in data.eval_results} == {
        ("OA (%)", 91.25),
        ("AA (%)", 90.5),
    }
    assert all(r.dataset_type == "openslr/librispeech_asr" for r in data.eval_results)
    assert (
        "snapshot_download" in card.text and "@inproceedings{loiseau2022model" in text
    )
    assert json.loads(pathlib.Path(folder, "test_results.json").read_text()) == results


def test_an_untested_model_has_a_card_without_scores(model_folder):
    card = ModelCard(pathlib.Path(model_folder, "README.md").read_text())
    assert card.data.eval_results is None
    assert card.data.license == mf.DEFAULT_LICENSE
    assert "Not tested." in card.text
