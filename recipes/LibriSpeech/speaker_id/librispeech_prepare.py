"""Manifests for speaker identification on LibriSpeech.

Reads LibriSpeech's own layout, ``<data_folder>/<subset>/<speaker>/<chapter>/
<speaker>-<chapter>-<utt>.flac``, keeps the ``n_speakers`` speakers with the
most audio (the paper: the 128 of train-clean-360), and writes SpeechBrain
JSON manifests (label = speaker id). Two ways to split:

* ``utterance`` (the paper): each speaker's utterances are shuffled (seeded)
  and shared 70/10/20 between train, valid and test.
* ``segment``: for corpora with few utterances per speaker (such as the
  one-utterance-per-speaker excerpt the tests use, in ``shared/data``):
  each utterance is split *by position* (its first 70% for training, the
  next 10% for validation, the last 20% for test) and each part is cut into
  segments of ``segment_seconds``, so no stretch of audio is in two splits.
  Speakers whose audio cannot fill all three splits are skipped and counted.

Or, with ``split_folder``, the authors' own split (to reproduce the paper's
Table 3 exactly): ``{train,valid,test}_<anything>_split.csv`` there, e.g.
``train_train-clean-360_K128_split.csv``, rows ``<label index>,<utterance
id>`` (``1001-134707-0000``). The speakers are then the split's, and rows
naming an utterance not found under ``subsets`` are skipped and counted.

Authors
 * speechbrain-protos developers 2026
"""

import glob
import logging
import os
from collections import defaultdict

from speechbrain_protos.data.manifests import (
    SPLITS,
    cut_segments,
    file_digests,
    manifest_entry,
    manifests_are_current,
    probe_audio,
    read_split_file,
    require_folder,
    seeded_split,
    split_by_position,
    write_manifests,
)

logger = logging.getLogger(__name__)

SPLIT_MODES = ("utterance", "segment")


def prepare_librispeech(
    data_folder,
    save_folder,
    subsets=("train-clean-360",),
    n_speakers=128,
    split_mode="utterance",
    split_ratio=(70, 10, 20),
    segment_seconds=6.0,
    min_segment_seconds=1.0,
    seed=0,
    skip_prep=False,
    split_folder=None,
):
    """Writes ``{train,valid,test}.json`` for LibriSpeech speaker ID.

    Arguments
    ---------
    data_folder : str
        LibriSpeech root (holds the subset folders and ``SPEAKERS.TXT``).
    save_folder : str
        Where the manifests go.
    subsets : list of str
        Subset folders to read, e.g. ``["train-clean-360"]``.
    n_speakers : int
        Keep the speakers with the most (usable) audio.
    split_mode : str
        ``"utterance"`` or ``"segment"`` (see the module docstring).
    split_ratio : sequence of 3 numbers
        Relative sizes of train, valid and test.
    segment_seconds : float
        Segment length in ``segment`` mode.
    min_segment_seconds : float
        Shortest segment kept (and shortest utterance read) in seconds.
    seed : int
        Seed of the utterance split.
    skip_prep : bool
        Do nothing.
    split_folder : str, optional
        Folder with the authors' split files; then ``n_speakers``,
        ``split_mode``, ``split_ratio`` and ``seed`` are not used.

    Example
    -------
    >>> prepare_librispeech("/data/LibriSpeech", "results/save")  # doctest: +SKIP
    """
    if skip_prep:
        return
    if split_mode not in SPLIT_MODES:
        raise ValueError(f"split_mode must be one of {SPLIT_MODES}; got {split_mode!r}")
    options = {
        "data_folder": os.path.abspath(data_folder),
        "subsets": list(subsets),
        "n_speakers": n_speakers,
        "split_mode": split_mode,
        "split_ratio": list(split_ratio),
        "segment_seconds": segment_seconds,
        "min_segment_seconds": min_segment_seconds,
        "seed": seed,
        "split_folder": os.path.abspath(split_folder) if split_folder else None,
    }
    if split_folder:  # an edited split file must redo the manifests
        options["split_files"] = file_digests(_split_files(split_folder).values())
    if manifests_are_current(save_folder, options):
        logger.info("Manifests in %s are up to date; skipping preparation", save_folder)
        return
    utterances = _find_utterances(data_folder, subsets)
    if split_folder:
        splits = _official_splits(split_folder, utterances, data_folder)
        write_manifests(save_folder, splits, options)
        return
    files, _ = probe_audio(utterances, min_samples=1)
    if not files:
        raise ValueError(f"no readable utterance under {data_folder} ({subsets})")
    by_speaker = defaultdict(list)
    for audio in files:
        by_speaker[_speaker_of(audio.path)].append(audio)
    if split_mode == "segment":
        entries = _segment_entries(
            by_speaker, data_folder, split_ratio, segment_seconds, min_segment_seconds
        )
    else:
        entries = _utterance_entries(by_speaker, data_folder, split_ratio, seed)
    speakers = _top_speakers(entries, by_speaker, n_speakers)
    splits = {
        name: {
            clip: entry
            for speaker in speakers
            for clip, entry in entries[speaker][name].items()
        }
        for name in SPLITS
    }
    write_manifests(save_folder, splits, options)


def _split_files(split_folder):
    """The authors' split file of each split: ``<split>_*split.csv``."""
    require_folder(split_folder, "the split folder")
    files = {}
    for name in SPLITS:
        found = sorted(glob.glob(os.path.join(split_folder, f"{name}_*split.csv")))
        if len(found) != 1:
            raise FileNotFoundError(
                f"{split_folder} must hold exactly one {name}_*split.csv (e.g. "
                f"{name}_train-clean-360_K128_split.csv); found "
                f"{[os.path.basename(path) for path in found] or 'none'}"
            )
        files[name] = found[0]
    return files


def _official_splits(split_folder, utterances, data_folder):
    """Manifest entries of the utterances the authors' split files name."""
    by_id = {_utterance_id(path): path for path in utterances}
    splits, speaker_of_index = {}, {}
    for name, path in _split_files(split_folder).items():
        rows, missing = [], []
        for index, utterance in read_split_file(path, "utterance id"):
            if utterance not in by_id:
                missing.append(utterance)
                continue
            speaker = utterance.split("-")[0]
            known = speaker_of_index.setdefault(index, speaker)
            if known != speaker:
                raise ValueError(
                    f"{path}: label index {index} names speaker {speaker} here "
                    f"and speaker {known} elsewhere"
                )
            rows.append(by_id[utterance])
        if missing:
            logger.warning(
                "%s: skipped %d rows whose utterance is not under %s, e.g. %s",
                path,
                len(missing),
                data_folder,
                missing[0],
            )
        files, _ = probe_audio(rows, min_samples=1)
        splits[name] = {
            _utterance_id(audio.path): manifest_entry(
                audio, data_folder, _speaker_of(audio.path)
            )
            for audio in files
        }
    return splits


def _find_utterances(data_folder, subsets):
    require_folder(data_folder, "the LibriSpeech data folder")
    paths = []
    for subset in subsets:
        subset_folder = os.path.join(data_folder, subset)
        require_folder(subset_folder, f"the LibriSpeech subset folder {subset!r}")
        found = sorted(glob.glob(os.path.join(subset_folder, "*", "*", "*.flac")))
        if not found:
            raise ValueError(
                f"{subset_folder} holds no .flac file at <speaker>/<chapter>/"
                "<speaker>-<chapter>-<utt>.flac (LibriSpeech layout)"
            )
        paths += found
    return paths


def _speaker_of(path):
    return os.path.basename(os.path.dirname(os.path.dirname(path)))


def _utterance_id(path):
    return os.path.splitext(os.path.basename(path))[0]


def _utterance_entries(by_speaker, data_folder, split_ratio, seed):
    entries = {}
    for speaker, files in by_speaker.items():
        split = seeded_split([audio.path for audio in files], split_ratio, seed)
        lookup = {audio.path: audio for audio in files}
        entries[speaker] = {
            name: {
                _utterance_id(path): manifest_entry(lookup[path], data_folder, speaker)
                for path in split[name]
            }
            for name in SPLITS
        }
    return entries


def _segment_entries(
    by_speaker, data_folder, split_ratio, segment_seconds, min_seconds
):
    entries = {}
    for speaker, files in by_speaker.items():
        entries[speaker] = {name: {} for name in SPLITS}
        for audio in files:
            rate = audio.sample_rate
            ranges = split_by_position(audio.n_samples, split_ratio)
            for name, (start, stop) in ranges.items():
                segments = cut_segments(
                    start, stop, int(segment_seconds * rate), int(min_seconds * rate)
                )
                for index, (begin, end) in enumerate(segments):
                    clip = f"{_utterance_id(audio.path)}_{name}{index}"
                    entries[speaker][name][clip] = manifest_entry(
                        audio, data_folder, speaker, begin, end
                    )
    return entries


def _top_speakers(entries, by_speaker, n_speakers):
    usable = [s for s in entries if all(entries[s][name] for name in SPLITS)]
    dropped = sorted(set(entries) - set(usable))
    if dropped:
        logger.warning(
            "Skipped %d speakers whose audio cannot fill train, valid and test "
            "(too short), e.g. %s",
            len(dropped),
            ", ".join(by_speaker[s][0].path for s in dropped[:3]),
        )
    if not usable:
        raise ValueError(
            "no speaker has enough audio for all three splits; lower "
            "min_segment_seconds or use split_mode: utterance"
        )
    total = {s: sum(audio.n_samples for audio in by_speaker[s]) for s in usable}
    ranked = sorted(usable, key=lambda s: (-total[s], s))
    if len(ranked) < n_speakers:
        logger.warning(
            "Asked for %d speakers; only %d are usable", n_speakers, len(ranked)
        )
    chosen = sorted(ranked[:n_speakers])
    logger.info("Keeping %d speakers with the most audio", len(chosen))
    return chosen
