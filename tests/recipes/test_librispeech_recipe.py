"""LibriSpeech speaker-ID recipe on the real excerpt in shared/data."""

import json
import logging

import pytest
import soundfile
from recipe_helpers import (
    TINY,
    assert_ok,
    load_prepare_module,
    parse_train_log,
    read_results,
    run_recipe,
)

N_SPEAKERS = 8
CHANCE = 100.0 / N_SPEAKERS


def libri_args(root, out, epochs=8, curriculum=None):
    args = [
        f"--data_folder={root}",
        f"--output_folder={out}",
        "--subsets=[train-clean-100]",
        f"--n_speakers={N_SPEAKERS}",
        "--split_mode=segment",
        "--segment_seconds=3.0",
        "--train_crop_frames=64",
        f"--number_of_epochs={epochs}",
        *TINY,
    ]
    if curriculum:
        args = [a for a in args if not a.startswith("--curriculum")] + [curriculum]
    return args


@pytest.mark.smoke
def test_supervised_segment_mode(librispeech_root, tmp_path):
    process = run_recipe(
        "librispeech", "librispeech.yaml", libri_args(librispeech_root, tmp_path)
    )
    assert_ok(process)
    rows = parse_train_log(tmp_path / "train_log.txt")
    assert len(rows) == 8
    assert rows[-1]["train"]["loss"] < rows[0]["train"]["loss"]
    results = read_results(tmp_path)
    # Measured 62.5% on 8 test segments (chance 12.5%); demand 3x chance.
    assert results["OA"] >= 3 * CHANCE
    assert (tmp_path / "confusion_matrix.csv").is_file()
    train = json.loads((tmp_path / "save" / "train.json").read_text())
    test = json.loads((tmp_path / "save" / "test.json").read_text())
    assert len({entry["label"] for entry in train.values()}) == N_SPEAKERS
    # Split by position: a test segment starts after every training segment
    # of the same utterance ends.
    for clip in test.values():
        same = [e for e in train.values() if e["wav"] == clip["wav"]]
        assert same and max(e["stop"] for e in same) <= clip["start"]


def test_bf16_mixed_precision_learns(librispeech_root, tmp_path):
    """SpeechBrain's own ``--precision=bf16`` runs the networks in bf16 on
    the CPU; the front end and the errors stay float32 (the kernel takes
    float32 only), and the run still learns."""
    args = libri_args(librispeech_root, tmp_path) + [
        "--precision=bf16",
        "--eval_precision=bf16",
    ]
    process = run_recipe("librispeech", "librispeech.yaml", args)
    assert_ok(process)
    log = (tmp_path / "log.txt").read_text()
    assert "Using training precision: `--precision=bf16`" in log
    rows = parse_train_log(tmp_path / "train_log.txt")
    assert rows[-1]["train"]["loss"] < rows[0]["train"]["loss"]
    # Measured 62.5% on 8 test segments (chance 12.5%); demand 3x chance.
    assert read_results(tmp_path)["OA"] >= 3 * CHANCE


def test_unsupervised_segment_mode(librispeech_root, tmp_path):
    args = libri_args(librispeech_root, tmp_path) + ["--n_init_proposals=20"]
    process = run_recipe("librispeech", "librispeech_unsupervised.yaml", args)
    assert_ok(process)
    rows = parse_train_log(tmp_path / "train_log.txt")
    assert rows[-1]["train"]["loss"] < 0.85 * rows[0]["train"]["loss"]
    last_of_stage = {row["stage"]: row["train"]["L_rec"] for row in rows}
    stage_rec = [last_of_stage[s] for s in ("raw", "gain", "pitch", "filters")]
    assert stage_rec == sorted(stage_rec, reverse=True), stage_rec
    assert "OA" in read_results(tmp_path)
    # The clustering is logged every epoch, train and valid.
    for row in rows:
        assert "reassigned" in row["train"]
        for split in ("train", "valid"):
            stats = row[split]
            assert 0.0 <= stats["NMI"] <= 1.0 and -1.0 <= stats["ARI"] <= 1.0
            assert 1 <= stats["used"] <= N_SPEAKERS  # one prototype a speaker
            assert 100.0 / N_SPEAKERS <= stats["largest"] <= 100.0
            assert 0.0 < stats["purity"] <= 100.0


def test_resumed_run_ends_like_an_uninterrupted_one(librispeech_root, tmp_path):
    # max_epochs 3: epoch 2 ends in the middle of the raw stage, so the
    # resumed run must remember how long it has been in it.
    curriculum = "--curriculum={patience: 50, max_epochs: 3, warmup_steps: 0}"
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    assert_ok(
        run_recipe(
            "librispeech",
            "librispeech.yaml",
            libri_args(librispeech_root, straight, 7, curriculum),
        )
    )
    assert_ok(
        run_recipe(
            "librispeech",
            "librispeech.yaml",
            libri_args(librispeech_root, interrupted, 2, curriculum),
        )
    )
    resumed = run_recipe(
        "librispeech",
        "librispeech.yaml",
        libri_args(librispeech_root, interrupted, 7, curriculum),
    )
    assert_ok(resumed)
    assert "Loading a checkpoint" in resumed.stdout + resumed.stderr
    straight_rows = parse_train_log(straight / "train_log.txt")
    resumed_rows = parse_train_log(interrupted / "train_log.txt")
    assert [(r["epoch"], r["stage"]) for r in resumed_rows] == [
        (r["epoch"], r["stage"]) for r in straight_rows
    ]
    assert resumed_rows[-1]["epoch"] == 7 and resumed_rows[-1]["stage"] == "pitch"
    # The random state is checkpointed too: the resumed run draws the same
    # crops, noise and shuffles, so its scores are the uninterrupted run's.
    for straight_row, resumed_row in zip(straight_rows, resumed_rows):
        for split in ("train", "valid"):
            assert resumed_row[split] == pytest.approx(straight_row[split], rel=1e-4), (
                resumed_row["epoch"],
                split,
            )
    assert read_results(interrupted)["OA"] == read_results(straight)["OA"]


def test_two_process_ddp_on_cpu(librispeech_root, tmp_path):
    args = libri_args(librispeech_root, tmp_path, epochs=1) + [
        "--distributed_backend=gloo"
    ]
    process = run_recipe("librispeech", "librispeech.yaml", args, nproc=2)
    assert_ok(process)
    log = (tmp_path / "train_log.txt").read_text()
    assert log.count("epoch: 1, stage: raw") == 1  # one process writes
    assert log.count("test loss") == 1
    assert len(list((tmp_path / "save").glob("CKPT+*"))) == 1
    assert read_results(tmp_path)["n_clips"] == N_SPEAKERS


def test_two_process_ddp_unsupervised_keeps_replicas_identical(
    librispeech_root, tmp_path
):
    # Each process checks after every reassignment that all hold the same
    # prototypes, and stops the run if not.
    args = libri_args(librispeech_root, tmp_path, epochs=2) + [
        "--distributed_backend=gloo",
        "--n_init_proposals=20",
    ]
    process = run_recipe("librispeech", "librispeech_unsupervised.yaml", args, nproc=2)
    assert_ok(process)
    rows = parse_train_log(tmp_path / "train_log.txt")
    assert [row["epoch"] for row in rows] == [1, 2]
    # Measured: one prototype reassigned after epoch 1 with these seeds.
    assert sum(row["train"]["reassigned"] for row in rows) >= 1


def test_wrong_class_count_stops_before_training(librispeech_root, tmp_path):
    args = libri_args(librispeech_root, tmp_path, epochs=1) + ["--n_classes=5"]
    process = run_recipe("librispeech", "librispeech.yaml", args)
    assert process.returncode != 0
    assert "set n_classes: 8" in process.stdout + process.stderr
    assert not (tmp_path / "train_log.txt").exists()


# ---- Data preparation: bad input ----------------------------------------------
libri_prepare = load_prepare_module("librispeech")


def make_utterance(root, speaker, seconds, subset="train-clean-100", rate=16000):
    path = root / subset / speaker / "1" / f"{speaker}-1-0000.flac"
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, [0.1] * int(seconds * rate), rate)
    return path


def test_missing_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="LibriSpeech data folder"):
        libri_prepare.prepare_librispeech(str(tmp_path / "nope"), str(tmp_path / "s"))
    (tmp_path / "LibriSpeech").mkdir()
    with pytest.raises(FileNotFoundError, match="train-clean-360"):
        libri_prepare.prepare_librispeech(
            str(tmp_path / "LibriSpeech"), str(tmp_path / "s")
        )
    (tmp_path / "LibriSpeech" / "train-clean-360").mkdir()
    with pytest.raises(ValueError, match="holds no .flac"):
        libri_prepare.prepare_librispeech(
            str(tmp_path / "LibriSpeech"), str(tmp_path / "s")
        )


def test_speakers_too_short_are_skipped_then_refused(tmp_path, caplog):
    root = tmp_path / "LibriSpeech"
    make_utterance(root, "11", 20.0)
    short = make_utterance(root, "22", 1.2)
    kwargs = dict(
        subsets=["train-clean-100"],
        n_speakers=2,
        split_mode="segment",
        segment_seconds=3.0,
        min_segment_seconds=1.0,
    )
    with caplog.at_level(logging.WARNING):
        libri_prepare.prepare_librispeech(str(root), str(tmp_path / "s"), **kwargs)
    assert "Skipped 1 speakers" in caplog.text and str(short) in caplog.text
    labels = {
        e["label"]
        for e in json.loads((tmp_path / "s" / "train.json").read_text()).values()
    }
    assert labels == {"11"}
    (root / "train-clean-100" / "11" / "1" / "11-1-0000.flac").unlink()
    with pytest.raises(ValueError, match="no speaker has enough audio"):
        libri_prepare.prepare_librispeech(str(root), str(tmp_path / "s2"), **kwargs)


def test_utterance_mode_splits_each_speakers_utterances(tmp_path):
    root = tmp_path / "LibriSpeech"
    for speaker in ("1", "2"):
        for utt in range(10):
            path = (
                root / "train-clean-100" / speaker / "5" / f"{speaker}-5-{utt:04d}.flac"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, [0.1] * 1600, 16000)
    libri_prepare.prepare_librispeech(
        str(root),
        str(tmp_path / "s"),
        subsets=["train-clean-100"],
        n_speakers=2,
        split_mode="utterance",
    )
    sizes = [
        len(json.loads((tmp_path / "s" / f"{n}.json").read_text()))
        for n in ("train", "valid", "test")
    ]
    assert sizes == [14, 2, 4]


def test_the_authors_split_files_are_read_as_given(tmp_path, caplog):
    """A small tree in the authors' layout: splits/librispeech/
    {train,valid,test}_train-clean-360_K128_split.csv, rows
    '<label index>,<utterance id>'."""
    root = tmp_path / "LibriSpeech"
    for speaker in ("1001", "2002", "3003"):
        for utt in range(4):
            name = f"{speaker}-7-{utt:04d}.flac"
            path = root / "train-clean-360" / speaker / "7" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, [0.1] * 1600, 16000)
    splits = tmp_path / "splits" / "librispeech"
    splits.mkdir(parents=True)
    rows = {
        "train": [(0, "1001-7-0000"), (0, "1001-7-0001"), (1, "2002-7-0000")],
        "valid": [(0, "1001-7-0002"), (1, "2002-7-0001"), (1, "9999-1-0000")],
        "test": [(0, "1001-7-0003"), (1, "2002-7-0003")],
    }
    for name, lines in rows.items():
        text = "".join(f"{index},{utterance}\n" for index, utterance in lines)
        (splits / f"{name}_train-clean-360_K128_split.csv").write_text(text)
    save = tmp_path / "save"
    with caplog.at_level(logging.WARNING):
        libri_prepare.prepare_librispeech(
            str(root), str(save), split_folder=str(splits)
        )
    assert "skipped 1 rows" in caplog.text and "9999-1-0000" in caplog.text
    for name, lines in rows.items():
        manifest = json.loads((save / f"{name}.json").read_text())
        expected = [u for _, u in lines if not u.startswith("9999")]
        assert sorted(manifest) == sorted(expected)
        assert {entry["label"] for entry in manifest.values()} == {"1001", "2002"}
    # A label index that names two speakers is an error, with the file.
    bad = "0,1001-7-0000\n0,2002-7-0000\n"
    (splits / "train_train-clean-360_K128_split.csv").write_text(bad)
    with pytest.raises(ValueError, match="label index 0 names speaker 2002"):
        libri_prepare.prepare_librispeech(
            str(root), str(tmp_path / "s2"), split_folder=str(splits)
        )
    (splits / "test_other_split.csv").write_text("0,1001-7-0003\n")
    with pytest.raises(FileNotFoundError, match="exactly one test_"):
        libri_prepare.prepare_librispeech(
            str(root), str(tmp_path / "s3"), split_folder=str(splits)
        )
