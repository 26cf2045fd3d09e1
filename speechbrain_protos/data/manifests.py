"""Writing SpeechBrain manifests: probing audio, splitting, skipping reruns.

Recipes' ``*_prepare.py`` scripts hold what is specific to a dataset (its
folder layout, its labels); these helpers hold what they share:

* :func:`probe_audio` reads every file's header once, and skips (logging
  and counting) what cannot be read or is empty;
* :func:`seeded_split` and :func:`split_by_position` make reproducible
  train/valid/test splits;
* :func:`write_manifests` writes one JSON manifest per split, with paths
  relative to a ``{data_root}`` placeholder, plus the options they were made
  with, so :func:`manifests_are_current` can skip a rerun with the same
  options and redo one whose options changed.

A manifest entry is ``{"wav": "{data_root}/<relative path>", "start": int,
"stop": int, "sample_rate": int, "duration": float, "label": str}``
(``start``/``stop`` in samples of the file).

Authors
 * speechbrain-protos developers 2026
"""

import csv
import hashlib
import json
import logging
import os
import random
from collections import Counter, defaultdict
from typing import NamedTuple

import soundfile

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
OPTIONS_FILE = "prep_options.json"
DATA_ROOT = "{data_root}"


class AudioFile(NamedTuple):
    """Header facts of one readable audio file."""

    path: str
    n_samples: int
    sample_rate: int
    channels: int


def probe_audio(paths, min_samples=1):
    """Reads the header of every file; skips and counts the bad ones.

    Arguments
    ---------
    paths : list of str
        Audio files.
    min_samples : int
        Files with fewer samples are skipped as too short.

    Returns
    -------
    files : list of AudioFile
        The readable, long-enough files, in the order given.
    skipped : dict
        ``{reason: [paths]}`` for every file left out.

    Example
    -------
    >>> folder = getfixture("tmpdir")
    >>> soundfile.write(str(folder / "ok.wav"), [0.1] * 800, 8000)
    >>> (folder / "broken.wav").write_text("not audio", encoding="utf-8")
    >>> paths = [str(folder / "ok.wav"), str(folder / "broken.wav")]
    >>> files, skipped = probe_audio(paths)
    >>> [f.n_samples for f in files], list(skipped)
    ([800], ['unreadable'])
    """
    files, skipped = [], defaultdict(list)
    for path in paths:
        try:
            info = soundfile.info(path)
        except (RuntimeError, soundfile.LibsndfileError, OSError) as error:
            logger.warning("Skipping unreadable audio file %s (%s)", path, error)
            skipped["unreadable"].append(path)
            continue
        if info.frames < min_samples:
            logger.warning(
                "Skipping %s: %d samples, fewer than %d", path, info.frames, min_samples
            )
            skipped["too short"].append(path)
            continue
        files.append(AudioFile(path, info.frames, info.samplerate, info.channels))
    if skipped:
        logger.warning(
            "Skipped %d of %d audio files: %s",
            sum(len(v) for v in skipped.values()),
            len(paths),
            ", ".join(f"{len(v)} {reason}" for reason, v in skipped.items()),
        )
    return files, dict(skipped)


def seeded_split(keys, ratios=(70, 10, 20), seed=0, strata=None):
    """Assigns every key to train, valid or test, reproducibly.

    Arguments
    ---------
    keys : list
        Items to split (sorted first, so the input order does not matter).
    ratios : sequence of 3 numbers
        Relative sizes of train, valid and test.
    seed : int
        Seed of the shuffle.
    strata : dict, optional
        ``{key: group}``; each group is split on its own (stratified), so
        every class with at least 3 items lands in all three splits.

    Returns
    -------
    dict
        ``{"train": [...], "valid": [...], "test": [...]}``.

    Example
    -------
    >>> split = seeded_split(range(10), (70, 10, 20), seed=1)
    >>> [len(split[name]) for name in ("train", "valid", "test")]
    [7, 1, 2]
    """
    if len(ratios) != 3 or min(ratios) < 0 or sum(ratios) <= 0:
        raise ValueError(f"ratios must be 3 non-negative numbers; got {ratios}")
    groups = defaultdict(list)
    for key in sorted(keys):
        groups[strata[key] if strata else None].append(key)
    split = {name: [] for name in SPLITS}
    rng = random.Random(seed)
    for group in sorted(groups, key=str):
        members = groups[group]
        rng.shuffle(members)
        n_valid, n_test = _valid_test_sizes(len(members), ratios)
        split["valid"] += members[:n_valid]
        split["test"] += members[n_valid : n_valid + n_test]
        split["train"] += members[n_valid + n_test :]
    return split


def _valid_test_sizes(n_items, ratios):
    total = float(sum(ratios))
    n_valid = round(n_items * ratios[1] / total)
    n_test = round(n_items * ratios[2] / total)
    if n_items >= 3:  # keep one of each where the ratios ask for any
        n_valid = max(n_valid, 1 if ratios[1] else 0)
        n_test = max(n_test, 1 if ratios[2] else 0)
    n_test = min(n_test, n_items - n_valid)
    return n_valid, n_test


def split_by_position(n_samples, ratios=(70, 10, 20)):
    """Sample ranges of train, valid and test inside one recording.

    The first share goes to train, the next to valid, the last to test, so
    no stretch of audio is in two splits.

    Arguments
    ---------
    n_samples : int
        Length of the recording.
    ratios : sequence of 3 numbers
        Relative sizes of train, valid and test.

    Returns
    -------
    dict
        ``{split: (start, stop)}`` in samples.

    Example
    -------
    >>> split_by_position(1000)
    {'train': (0, 700), 'valid': (700, 800), 'test': (800, 1000)}
    """
    total = float(sum(ratios))
    train_end = round(n_samples * ratios[0] / total)
    valid_end = round(n_samples * (ratios[0] + ratios[1]) / total)
    return {
        "train": (0, train_end),
        "valid": (train_end, valid_end),
        "test": (valid_end, n_samples),
    }


def cut_segments(start, stop, segment_samples, min_samples):
    """Cuts ``[start, stop)`` into consecutive segments.

    Segments are ``segment_samples`` long; a last piece shorter than that is
    kept when it has at least ``min_samples`` samples.

    Example
    -------
    >>> cut_segments(0, 25, 10, 4)
    [(0, 10), (10, 20), (20, 25)]
    >>> cut_segments(0, 23, 10, 4)
    [(0, 10), (10, 20)]
    """
    segments = []
    for begin in range(start, stop, segment_samples):
        end = min(begin + segment_samples, stop)
        if end - begin >= min_samples:
            segments.append((begin, end))
    return segments


def manifest_entry(audio, data_folder, label, start=0, stop=None):
    """One manifest entry for (a segment of) an audio file.

    Example
    -------
    >>> audio = AudioFile("/data/sol/Strings/Viola/ord/a.wav", 44100, 44100, 1)
    >>> manifest_entry(audio, "/data/sol", "Strings/Viola")["wav"]
    '{data_root}/Strings/Viola/ord/a.wav'
    """
    stop = audio.n_samples if stop is None else stop
    relative = os.path.relpath(audio.path, data_folder).replace(os.sep, "/")
    return {
        "wav": f"{DATA_ROOT}/{relative}",
        "start": int(start),
        "stop": int(stop),
        "sample_rate": audio.sample_rate,
        "duration": (stop - start) / audio.sample_rate,
        "label": label,
    }


def manifest_paths(save_folder):
    """Paths of the train, valid and test manifests in ``save_folder``."""
    return {name: os.path.join(save_folder, f"{name}.json") for name in SPLITS}


def read_split_file(path, item="relative path"):
    """Rows ``<label index>,<item>`` of an authors' split CSV.

    Arguments
    ---------
    path : str
        The CSV file.
    item : str
        What the second column holds, for messages.

    Returns
    -------
    list of (int, str)
        ``(label index, item)`` per row.

    Example
    -------
    >>> path = getfixture("tmpdir") / "test_split.csv"
    >>> _ = path.write("4,Flutes/a.wav\\nflute,Flutes/b.wav\\n")
    >>> read_split_file(str(path))
    Traceback (most recent call last):
    ...
    ValueError: ...test_split.csv, line 2: expected '<label index>,<relative path>', ...
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"split file {path} does not exist (expected rows '<label index>,<{item}>')"
        )
    rows = []
    with open(path, newline="", encoding="utf-8") as fin:
        for line_number, row in enumerate(csv.reader(fin), start=1):
            if len(row) != 2 or not row[0].strip().isdigit() or not row[1].strip():
                raise ValueError(
                    f"{path}, line {line_number}: expected '<label index>,<{item}>', "
                    f"got {row}"
                )
            rows.append((int(row[0]), row[1].strip()))
    return rows


def file_digests(paths):
    """SHA-256 of each existing file, by name: for preparation options, so
    that editing an input file (a split CSV) redoes the manifests.

    Example
    -------
    >>> path = getfixture("tmpdir") / "train_split.csv"
    >>> _ = path.write("4,Flutes/a.wav\\n")
    >>> digests = file_digests([str(path), "no/such/file.csv"])
    >>> list(digests), len(digests["train_split.csv"])
    (['train_split.csv'], 64)
    """
    digests = {}
    for path in paths:
        if os.path.isfile(path):
            with open(path, "rb") as fin:
                digests[os.path.basename(path)] = hashlib.sha256(fin.read()).hexdigest()
    return digests


def manifests_are_current(save_folder, options):
    """True when all manifests exist and were made with these options."""
    paths = manifest_paths(save_folder)
    options_path = os.path.join(save_folder, OPTIONS_FILE)
    if not all(os.path.isfile(path) for path in [*paths.values(), options_path]):
        return False
    with open(options_path, encoding="utf-8") as fin:
        return json.load(fin) == json.loads(json.dumps(options))


def write_manifests(save_folder, splits, options):
    """Writes ``{train,valid,test}.json`` and the options they were made with.

    Arguments
    ---------
    save_folder : str
        Where to write.
    splits : dict
        ``{split: {clip_id: manifest entry}}``.
    options : dict
        JSON-serialisable preparation options.

    Raises
    ------
    ValueError
        If a split is empty.
    """
    empty = [name for name in SPLITS if not splits.get(name)]
    if empty:
        raise ValueError(
            f"data preparation left the {', '.join(empty)} split(s) empty; "
            "the data folder holds too few usable clips for a 3-way split"
        )
    os.makedirs(save_folder, exist_ok=True)
    for name, path in manifest_paths(save_folder).items():
        with open(path, "w", encoding="utf-8") as fout:
            json.dump(splits[name], fout, indent=1)
        classes = Counter(entry["label"] for entry in splits[name].values())
        logger.info(
            "Wrote %s: %d clips, %d classes", path, len(splits[name]), len(classes)
        )
    with open(os.path.join(save_folder, OPTIONS_FILE), "w", encoding="utf-8") as fout:
        json.dump(options, fout, indent=1)


def require_folder(path, what):
    """Raises a clear error when ``path`` is not an existing folder.

    Example
    -------
    >>> require_folder("/no/such/folder", "the SOL data folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: the SOL data folder does not exist: /no/such/folder
    """
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{what} does not exist: {path}")
