"""`speechbrain-protos classify`: batches, file lists, manifests, bad files."""

import json

import pytest
import soundfile
from model_helpers import CLASSES, make_model_folder, run_cli


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("cli") / "model")[0]


@pytest.fixture(scope="module")
def clips(shared_data, tmp_path_factory):
    """Real utterances of six readers, cut to 0.5 s to 2.5 s, as FLAC."""
    folder = tmp_path_factory.mktemp("clips")
    flacs = sorted((shared_data / "LibriSpeech").rglob("*.flac"))[10:16]
    paths = []
    for flac, seconds in zip(flacs, [0.5, 2.5, 0.7, 1.6, 0.9, 2.0]):
        wav, rate = soundfile.read(str(flac), dtype="float32")
        path = folder / f"{flac.stem}.flac"
        soundfile.write(str(path), wav[rate : rate + int(seconds * rate)], rate)
        paths.append(str(path))
    return paths


def classify(model_folder, *args, stdin=None):
    return run_cli("classify", model_folder, *args, stdin=stdin)


def labels(stdout):
    return {line.split("\t")[0]: line.split("\t")[1] for line in stdout.splitlines()}


def test_bad_files_among_good_ones(model_folder, clips, tmp_path):
    """A missing file, a text file and a FLAC cut short, between good files:
    every good file is classified, each bad one named on stderr, exit 1."""
    missing = str(tmp_path / "missing.wav")
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio\n")
    cut = tmp_path / "cut.flac"
    data = open(clips[1], "rb").read()
    cut.write_bytes(data[: len(data) // 2])
    bad = [missing, str(not_audio), str(cut)]
    files = [clips[0], bad[0], clips[1], bad[1], clips[2], bad[2], clips[3]]
    done = classify(model_folder, *files, "--batch-size", 2)
    assert done.returncode == 1
    assert list(labels(done.stdout)) == clips[:4]
    errors = done.stderr.splitlines()
    assert len(errors) == 3, done.stderr
    for path, line in zip(bad, errors):
        assert line.startswith("error: ") and path in line
    assert "does not exist" in errors[0]
    assert "cut short" in errors[2] or "lost sync" in errors[2]
    records = [
        json.loads(line)
        for line in classify(model_folder, *files, "--json").stdout.splitlines()
    ]
    assert [r["file"] for r in records] == files
    assert [("error" in r) for r in records] == [False, True] * 3 + [False]


def test_batched_mode_gives_the_labels_of_one_file_at_a_time(model_folder, clips):
    one_by_one = classify(model_folder, *clips, "--batch-size", 1, "--json")
    batched = classify(model_folder, *clips, "--batch-size", 4, "--json")
    assert one_by_one.returncode == batched.returncode == 0, batched.stderr
    alone = [json.loads(line) for line in one_by_one.stdout.splitlines()]
    together = [json.loads(line) for line in batched.stdout.splitlines()]
    assert [r["label"] for r in alone] == [r["label"] for r in together]
    for a, b in zip(alone, together):
        assert b["score"] == pytest.approx(a["score"], rel=1e-5)


def test_file_list_from_stdin_and_a_manifest_with_accuracy(
    model_folder, clips, tmp_path
):
    listed = classify(model_folder, "--files-from", "-", stdin="\n".join(clips) + "\n")
    assert listed.returncode == 0, listed.stderr
    predicted = labels(listed.stdout)
    assert list(predicted) == clips
    manifest = tmp_path / "test.csv"
    truth = [CLASSES[number % 3] for number in range(len(clips))]
    rows = [f"{path},{label}" for path, label in zip(clips, truth)]
    manifest.write_text("path,label\n" + "\n".join(rows) + "\n")
    done = classify(model_folder, "--manifest", manifest, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])["summary"]
    correct = sum(predicted[path] == label for path, label in zip(clips, truth))
    assert summary["OA"] == pytest.approx(100.0 * correct / len(clips))
    assert summary["classified"] == len(clips) and summary["failed"] == 0
    text = classify(model_folder, "--manifest", manifest).stdout.splitlines()[-1]
    assert text.startswith(f"OA {summary['OA']:.1f}%")


def test_a_manifest_with_unknown_labels_and_no_input_are_errors(
    model_folder, clips, tmp_path
):
    manifest = tmp_path / "test.csv"
    manifest.write_text(f"path,label\n{clips[0]},tuba\n")
    done = classify(model_folder, "--manifest", manifest)
    assert done.returncode == 1 and "['tuba'] are not classes" in done.stderr
    done = classify(model_folder)
    assert done.returncode == 1 and "nothing to classify" in done.stderr
