"""SoundFont rendering: real notes, right pitches, SOL layout, honest splits."""

import collections
import importlib.util
import math
import pathlib
import shutil
import time

import numpy as np
import pytest
import soundfile

from speechbrain_protos.data.soundfont import (
    DEFAULT_INSTRUMENTS,
    cross_soundfont_split,
    find_soundfont,
    parse_instruments,
    prepare_rendered_dataset,
    read_metadata,
    render_dataset,
    zone_split,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
# 100 notes of 4 instruments at one velocity; the violin and the viola of
# TimGM6mb share recordings, which the split must respect.
SMALL = {
    "flute": DEFAULT_INSTRUMENTS["flute"]._replace(low=60, high=84),
    "trumpet": DEFAULT_INSTRUMENTS["trumpet"]._replace(low=55, high=79),
    "violin": DEFAULT_INSTRUMENTS["violin"]._replace(low=60, high=84),
    "viola": DEFAULT_INSTRUMENTS["viola"]._replace(low=48, high=72),
}


def yin_f0(signal, rate, low=50.0, high=2000.0, threshold=0.1):
    """Fundamental frequency by YIN (cumulative mean normalised difference)."""
    frame = signal[: int(0.1 * rate)]
    max_lag, min_lag = int(rate / low), int(rate / high)
    diff = np.array(
        [
            np.sum((frame[:-max_lag] - frame[lag : lag - max_lag]) ** 2)
            for lag in range(max_lag)
        ]
    )
    cmnd = diff[1:] * np.arange(1, max_lag) / np.maximum(np.cumsum(diff[1:]), 1e-12)
    lag = next(
        (
            lag
            for lag in range(min_lag, max_lag - 2)
            if cmnd[lag - 1] < threshold and cmnd[lag - 1] <= cmnd[lag]
        ),
        int(np.argmin(cmnd[min_lag - 1 :]) + min_lag),
    )
    # parabolic refinement around the dip
    a, b, c = cmnd[lag - 2], cmnd[lag - 1], cmnd[lag]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) else 0.0
    return rate / (lag + shift)


@pytest.fixture(scope="module")
def small_render(tmp_path_factory):
    folder = tmp_path_factory.mktemp("render")
    started = time.perf_counter()
    report = render_dataset(
        str(folder), instruments=SMALL, velocities=[90], progress=False
    )
    report["seconds"] = time.perf_counter() - started
    report["folder"] = folder
    return report


def test_renders_a_hundred_notes_quickly_in_the_sol_layout(small_render):
    assert small_render["seconds"] < 30
    rows = small_render["rows"]
    assert len(rows) == 100 and not small_render["silent"]
    folder = small_render["folder"]
    for row in rows:
        parts = row["path"].split("/")
        assert len(parts) == 4 and "/".join(parts[:2]) == row["class"]
        assert parts[2] == "TimGM6mb"
        assert (folder / row["path"]).is_file()
        assert row["samples"]  # every note names the samples it sounds
    info = soundfile.info(str(folder / rows[0]["path"]))
    assert info.samplerate == 44100 and info.channels == 1
    assert 1.45 < info.duration < 1.55  # 1 s held + 0.5 s release
    assert len(read_metadata(str(folder))) == 100


def test_the_sol_recipe_reads_the_render(small_render):
    spec = importlib.util.spec_from_file_location(
        "sol_prepare", REPO / "recipes/SOL/instrument_id/sol_prepare.py"
    )
    sol_prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sol_prepare)
    root, files = sol_prepare.find_sol_files(str(small_render["folder"]))
    assert len(files) == 100
    assert {sol_prepare.label_of(f) for f in files} == {
        "Flutes/Flute",
        "Trumpets/Trumpet-C",
        "Strings/Violin",
        "Strings/Viola",
    }


def test_pitches_match_the_midi_notes(small_render):
    rows = small_render["rows"][::5]  # a sample of 20 notes
    folder = small_render["folder"]
    for row in rows:
        audio, rate = soundfile.read(str(folder / row["path"]), dtype="float64")
        f0 = yin_f0(audio[int(0.3 * rate) :], rate)
        expected = 440.0 * 2 ** ((int(row["midi_pitch"]) - 69) / 12)
        cents = 1200 * math.log2(f0 / expected)
        assert abs(cents) < 50, (row["path"], f0, expected, cents)


def test_zone_split_never_puts_a_sample_in_two_splits(small_render):
    rows = small_render["rows"]
    assignment = zone_split(rows, seed=3)
    splits_of = collections.defaultdict(set)
    for row in rows:
        if assignment[row["path"]]:
            for sample in row["samples"].split("|"):
                splits_of[sample].add(assignment[row["path"]])
    assert all(len(splits) == 1 for splits in splits_of.values())
    shared = {
        s
        for row in rows
        if row["instrument"] == "viola"
        for s in row["samples"].split("|")
    } & {
        s
        for row in rows
        if row["instrument"] == "violin"
        for s in row["samples"].split("|")
    }
    assert shared  # the violin's recordings play the viola too
    per_instrument = collections.defaultdict(collections.Counter)
    for row in rows:
        per_instrument[row["instrument"]][assignment[row["path"]]] += 1
    for counts in per_instrument.values():
        assert counts["train"] > counts["test"] > 0


def test_layered_presets_drop_only_straddling_notes():
    # Two layers per note, chained (like TimGM6mb's accordion).
    rows = [
        {
            "path": f"n{key}",
            "instrument": "acc",
            "midi_pitch": key,
            "samples": f"low{key // 4}|high{(key + 2) // 4}",
        }
        for key in range(40)
    ]
    assignment = zone_split(rows)
    kept = [p for p, s in assignment.items() if s]
    assert len(kept) >= 30
    counts = collections.Counter(assignment.values())
    assert counts["test"] > 0 and counts["valid"] > 0
    owners = collections.defaultdict(set)
    for row in rows:
        for sample in row["samples"].split("|"):
            if assignment[row["path"]]:
                owners[sample].add(assignment[row["path"]])
    assert all(len(v) == 1 for v in owners.values())


def test_silent_renders_are_dropped_and_counted(tmp_path):
    # TimGM6mb's alto sax has no sample for key 64.
    alto = {"alto_sax": DEFAULT_INSTRUMENTS["alto_sax"]._replace(low=63, high=65)}
    report = render_dataset(
        str(tmp_path), instruments=alto, velocities=[90], progress=False
    )
    assert report["silent"] == {"alto_sax": 1}
    assert [row["midi_pitch"] for row in report["rows"]] == [63, 65]


def test_cross_soundfont_protocol(tmp_path):
    # Plumbing check with one SoundFont under two names.
    other = tmp_path / "OtherFont.sf2"
    shutil.copy(find_soundfont(), other)
    instruments = {"flute": SMALL["flute"], "trumpet": SMALL["trumpet"]}
    report = prepare_rendered_dataset(
        str(tmp_path / "data"),
        test_soundfont=str(other),
        instruments=instruments,
        velocities=[90],
        progress=False,
    )
    assert report["soundfonts"] == ["TimGM6mb", "OtherFont"]
    lines = {
        name: (tmp_path / "data" / "splits" / f"{name}_split.csv")
        .read_text()
        .splitlines()
        for name in ("train", "valid", "test")
    }
    assert all("/TimGM6mb/" in line for line in lines["train"] + lines["valid"])
    assert len(lines["test"]) == 50 and all(
        "/OtherFont/" in line for line in lines["test"]
    )
    assert lines["train"][0].split(",")[0] in {"4", "10"}  # SOL label indices
    rows = read_metadata(str(tmp_path / "data"))
    with pytest.raises(ValueError, match="two different"):
        cross_soundfont_split(rows, "TimGM6mb", "TimGM6mb")


def test_bad_options_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown instrument 'kazoo'"):
        parse_instruments("flute,kazoo")
    with pytest.raises(ValueError, match="0-127"):
        parse_instruments("piano:0:100-200")
    with pytest.raises(FileNotFoundError, match="missing.sf2"):
        find_soundfont(str(tmp_path / "missing.sf2"))
