"""The main job (make demo), shrunk: two instruments, two epochs."""

import json
import subprocess
import sys

import soundfile
from recipe_helpers import RECIPES, assert_ok


def run_demo(output, *extra):
    return subprocess.run(
        [
            sys.executable,
            "demo.py",
            f"--output={output}",
            "--instruments=flute,trumpet",
            "--epochs=2",
            "--noprogressbar",
            *extra,
        ],
        cwd=RECIPES["sol"],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_demo_writes_everything_it_promises(tmp_path):
    process = run_demo(tmp_path)
    assert_ok(process)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["classes"] == 2 and summary["mode"] == "supervised"
    assert set(summary["test"]) == {"OA", "AA", "L_rec"}
    assert summary["notes"]["test"] > 0
    for name in (
        "test_results.json",
        "confusion_matrix.png",
        "confusion_matrix.csv",
        "train_log.txt",
        "gallery/prototypes.png",
        "gallery/index.html",
        "data/metadata.csv",
        "data/splits/test_split.csv",
    ):
        assert (tmp_path / name).is_file(), name
    prototypes = sorted((tmp_path / "gallery" / "prototypes").glob("*.wav"))
    assert [p.name for p in prototypes] == [
        "00_Flutes_Flute.wav",
        "01_Trumpets_Trumpet-C.wav",
    ]
    audio, rate = soundfile.read(str(prototypes[0]))
    assert rate == 44100 and 1.4 < len(audio) / rate < 1.6 and abs(audio).max() > 1e-3
    pairs = sorted((tmp_path / "gallery" / "reconstructions").glob("*_input.wav"))
    assert len(pairs) == 2
    for path in pairs:
        assert path.with_name(path.name.replace("_input", "_reconstruction")).is_file()
    assert "test OA" in process.stdout and str(tmp_path / "gallery") in process.stdout


def test_demo_reruns_reuse_the_render_and_the_training(tmp_path):
    assert_ok(run_demo(tmp_path))
    again = run_demo(tmp_path)
    assert_ok(again)
    log = again.stdout + again.stderr
    assert "already rendered" in log
    assert "Going into epoch" not in log  # training had finished


def test_unsupervised_demo(tmp_path):
    process = run_demo(tmp_path, "--unsupervised")
    assert_ok(process)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["mode"] == "unsupervised"
    names = [p.name for p in (tmp_path / "gallery" / "prototypes").glob("*.wav")]
    assert len(names) == 2 and all(name[3:].startswith("cluster") for name in names)
