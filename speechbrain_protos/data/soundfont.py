"""Real sampled instrument notes rendered from a SoundFont, laid out like SOL.

A SoundFont holds recordings of real instruments ("samples"), each stretched
over a few neighbouring keys. :func:`render_dataset` plays single notes
(chromatic over each instrument's playable range, a few velocities, a held
note then its release) for a list of General MIDI programs and writes them
as WAV files in the SOL layout, ``<Family>/<Instrument>/<soundfont>/<file>.wav``,
with SOL's class names, plus a ``metadata.csv`` that names, for every note,
the SoundFont samples it sounds. The SOL recipe's own preparation reads the
result unchanged.

**Honest splits.** Two notes rendered from the same recorded sample are the
same recording, shifted. A random split would put it in train and test, so
:func:`zone_split` assigns *samples* to splits (pitch-contiguous blocks of an
instrument's samples, at seeded positions) and keeps a note only where every
sample it sounds is in the same split; the few notes that straddle are
dropped and counted. No sample ever feeds two splits, even when two presets
share recordings (TimGM6mb's viola plays the violin's). The cross-SoundFont
protocol trains on one SoundFont and tests on another
(:func:`cross_soundfont_split`).

**Backend.** `tinysoundfont` (a PyPI wheel, TinySoundFont compiled in): no
system library, no root, renders straight to memory, deterministic. Install
it with ``pip install --no-deps tinysoundfont`` (its pyaudio dependency is for
live playback, does not build here, and is not needed). `sf2utils` parses the
SoundFont's zones. The default SoundFont, TimGM6mb, ships inside the
`pretty_midi` wheel; Debian's `fluid-soundfont-gm` (FluidR3) and
`timgm6mb-soundfont` are found too.

Run ``python -m speechbrain_protos.data.soundfont --help`` for the command line.

Authors
 * speechbrain-protos developers 2026
"""

import argparse
import csv
import json
import logging
import multiprocessing
import os
import random
import re
from collections import Counter, defaultdict
from typing import NamedTuple

import numpy as np
import soundfile
from tqdm import tqdm

from speechbrain_protos.data.manifests import SPLITS
from speechbrain_protos.data.sol import SOL_CLASSES, label_index

logger = logging.getLogger(__name__)

SILENCE_PEAK = 1e-3  # renders quieter than this are dropped
DEFAULT_VELOCITIES = (60, 90, 120)
DEBIAN_SOUNDFONTS = (
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
)
METADATA_FIELDS = (
    "path",
    "instrument",
    "class",
    "program",
    "preset",
    "midi_pitch",
    "velocity",
    "soundfont",
    "samples",
    "peak",
)


class Instrument(NamedTuple):
    """A General MIDI program rendered as one SOL-like class."""

    program: int  # 0-based General MIDI program
    label: str  # <Family>/<Instrument>, SOL's name where SOL has the class
    low: int  # lowest MIDI pitch rendered
    high: int  # highest MIDI pitch rendered


# The 16 SOL-like instruments, with usual playable ranges (MIDI pitches).
DEFAULT_INSTRUMENTS = {
    "accordion": Instrument(21, "Keyboards/Accordion", 53, 89),
    "alto_sax": Instrument(65, "Saxophones/Alto-Sax", 49, 81),
    "bassoon": Instrument(70, "Bassoons/Bassoon", 34, 72),
    "cello": Instrument(42, "Strings/Violoncello", 36, 76),
    "clarinet": Instrument(71, "Clarinets/Clarinet-Bb", 50, 91),
    "contrabass": Instrument(43, "Strings/Contrabass", 28, 60),
    "flute": Instrument(73, "Flutes/Flute", 60, 96),
    "french_horn": Instrument(60, "Horns/Horn", 41, 77),
    "guitar": Instrument(24, "PluckedStrings/Guitar", 40, 81),
    "harp": Instrument(46, "PluckedStrings/Harp", 36, 96),
    "oboe": Instrument(68, "Oboes/Oboe", 58, 91),
    "trombone": Instrument(57, "Trombones/Tenor-Trombone", 40, 72),
    "trumpet": Instrument(56, "Trumpets/Trumpet-C", 55, 82),
    "tuba": Instrument(58, "Tubas/Bass-Tuba", 28, 58),
    "viola": Instrument(41, "Strings/Viola", 48, 84),
    "violin": Instrument(40, "Strings/Violin", 55, 96),
}
CUSTOM_SPEC = re.compile(r"^(\w+):(\d+):(\d+)-(\d+)$")


def parse_instruments(spec):
    """Instruments from a comma-separated list.

    Each item is a default name (see ``DEFAULT_INSTRUMENTS``) or
    ``name:program:low-high`` for any General MIDI program (class
    ``Custom/<name>``). An empty spec gives the 16 defaults.

    Example
    -------
    >>> sorted(parse_instruments("flute,piano:0:48-72"))
    ['flute', 'piano']
    >>> parse_instruments("piano:0:48-72")["piano"].label
    'Custom/piano'
    """
    if not spec:
        return dict(DEFAULT_INSTRUMENTS)
    chosen = {}
    for item in (part.strip() for part in spec.split(",") if part.strip()):
        match = CUSTOM_SPEC.match(item)
        if match:
            name, program, low, high = match.groups()
            chosen[name] = Instrument(
                int(program), f"Custom/{name}", int(low), int(high)
            )
        elif item in DEFAULT_INSTRUMENTS:
            chosen[item] = DEFAULT_INSTRUMENTS[item]
        else:
            raise ValueError(
                f"unknown instrument {item!r}: use one of "
                f"{sorted(DEFAULT_INSTRUMENTS)} or name:program:low-high "
                "(0-based General MIDI program)"
            )
    for name, instrument in chosen.items():
        if not (
            0 <= instrument.program < 128
            and 0 <= instrument.low <= instrument.high < 128
        ):
            raise ValueError(
                f"instrument {name}: program and pitches must lie in 0-127"
            )
    return chosen


def find_soundfont(path=None):
    """Path of the SoundFont to render from.

    Arguments
    ---------
    path : str, optional
        An explicit ``.sf2`` file. Default: TimGM6mb from the ``pretty_midi``
        package, else Debian's SoundFonts.

    Returns
    -------
    str
        An existing SoundFont file.

    Raises
    ------
    FileNotFoundError
        If none is found (the message says what to install).
    """
    if path:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"SoundFont file not found: {path}")
        return path
    try:
        import pretty_midi

        bundled = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")
        if os.path.isfile(bundled):
            return bundled
    except ImportError:
        pass
    for candidate in DEBIAN_SOUNDFONTS:
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        "no SoundFont found: `pip install pretty_midi` (it ships TimGM6mb.sf2), "
        "or `apt-get install fluid-soundfont-gm`, or pass a .sf2 path"
    )


def soundfont_name(path):
    """Folder-safe name of a SoundFont file.

    Example
    -------
    >>> soundfont_name("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    'FluidR3_GM'
    """
    return re.sub(r"[^\w.-]", "_", os.path.splitext(os.path.basename(path))[0])


class ZoneMap:
    """Which recorded samples a SoundFont sounds for each note.

    Arguments
    ---------
    path : str
        SoundFont file.

    Example
    -------
    >>> zones = ZoneMap(find_soundfont())
    >>> zones.preset_name(40), zones.samples(40, 72, 90)
    ('Violin', ('Violin C4@...',))
    """

    def __init__(self, path):
        from sf2utils.sf2parse import Sf2File

        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)  # sf2utils warns on every odd loop
        try:
            with open(path, "rb") as fin:
                parsed = Sf2File(fin)
                self._presets = {
                    (preset.bank, preset.preset): self._zones(preset)
                    for preset in parsed.presets
                    if hasattr(preset, "bank")
                }
        finally:
            logging.disable(previous)

    @staticmethod
    def _zones(preset):
        zones = []
        for bag in preset.bags:
            if bag.instrument is None:
                continue
            for inner in bag.instrument.bags:
                if inner.sample is None:
                    continue
                zones.append(
                    (
                        bag.key_range,
                        bag.velocity_range,
                        inner.key_range,
                        inner.velocity_range,
                        f"{inner.sample.name}@{inner.sample.start}",
                    )
                )
        return {"name": preset.name, "zones": zones}

    def preset_name(self, program, bank=0):
        """Name of a preset."""
        return self._preset(program, bank)["name"]

    def _preset(self, program, bank):
        if (bank, program) not in self._presets:
            raise ValueError(
                f"the SoundFont has no preset bank {bank} program {program}"
            )
        return self._presets[(bank, program)]

    def samples(self, program, key, velocity, bank=0):
        """Sorted ids (``name@offset``) of the samples a note sounds."""

        def within(bounds, value):
            return bounds is None or bounds[0] <= value <= bounds[1]

        found = {
            sample
            for outer_keys, outer_vels, keys, vels, sample in self._preset(
                program, bank
            )["zones"]
            if within(outer_keys, key)
            and within(outer_vels, velocity)
            and within(keys, key)
            and within(vels, velocity)
        }
        return tuple(sorted(found))


def render_note(synth, key, velocity, held, release, sample_rate):
    """One mono note: ``held`` seconds on, then ``release`` seconds after."""
    synth.sounds_off()
    synth.generate(64)  # flush what the previous note left
    synth.noteon(0, key, velocity)
    on = np.frombuffer(synth.generate(int(held * sample_rate)), dtype=np.float32)
    synth.noteoff(0, key)
    off = np.frombuffer(synth.generate(int(release * sample_rate)), dtype=np.float32)
    return np.concatenate([on, off]).reshape(-1, 2).mean(axis=1)


_LOADED = {}  # per process: (soundfont, rate) -> (synth, SoundFont id, zones)


def _load(soundfont, rate):
    """A synthesizer with the SoundFont loaded, and its zones (once per process)."""
    if (soundfont, rate) not in _LOADED:
        import tinysoundfont

        synth = tinysoundfont.Synth(samplerate=rate)
        _LOADED[(soundfont, rate)] = (
            synth,
            synth.sfload(soundfont),
            ZoneMap(soundfont),
        )
    return _LOADED[(soundfont, rate)]


def _render_instrument(task):
    """Worker: renders every note of one instrument; returns metadata rows."""
    (name, instrument, soundfont, velocities, held, release, rate, root) = task
    synth, sfid, zones = _load(soundfont, rate)
    synth.program_select(0, sfid, 0, instrument.program)
    source = soundfont_name(soundfont)
    rows, silent = [], 0
    for key in range(instrument.low, instrument.high + 1):
        for velocity in velocities:
            audio = render_note(synth, key, velocity, held, release, rate)
            peak = float(np.abs(audio).max())
            if peak < SILENCE_PEAK:
                silent += 1
                continue
            relative = (
                f"{instrument.label}/{source}/{name}-{key:03d}-v{velocity:03d}.wav"
            )
            path = os.path.join(root, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            soundfile.write(path, audio, rate, subtype="PCM_16")
            rows.append(
                {
                    "path": relative,
                    "instrument": name,
                    "class": instrument.label,
                    "program": instrument.program,
                    "preset": zones.preset_name(instrument.program),
                    "midi_pitch": key,
                    "velocity": velocity,
                    "soundfont": source,
                    "samples": "|".join(
                        zones.samples(instrument.program, key, velocity)
                    ),
                    "peak": round(peak, 5),
                }
            )
    return name, rows, silent


def render_dataset(
    output_folder,
    soundfont=None,
    instruments=None,
    velocities=DEFAULT_VELOCITIES,
    held=1.0,
    release=0.5,
    sample_rate=44100,
    workers=None,
    progress=True,
):
    """Renders single notes of each instrument into a SOL-layout folder.

    Arguments
    ---------
    output_folder : str
        Root of the data set (created); the notes go under
        ``<Family>/<Instrument>/<soundfont name>/``.
    soundfont : str, optional
        SoundFont file (see :func:`find_soundfont`).
    instruments : dict, optional
        ``{name: Instrument}``; default the 16 SOL-like ones.
    velocities : sequence of int
        MIDI velocities of each pitch.
    held, release : float
        Seconds the key is held, then rendered after its release.
    sample_rate : int
        Output rate.
    workers : int, optional
        Processes (default: the CPU count).
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        ``rows`` (metadata of every kept note, also in ``metadata.csv``),
        ``silent`` (dropped silent renders per instrument) and ``soundfont``.

    Example
    -------
    >>> folder = getfixture("tmpdir")
    >>> report = render_dataset(str(folder), instruments=parse_instruments("flute"),
    ...                         velocities=[90], workers=1, progress=False)
    >>> len(report["rows"]), report["rows"][0]["path"]
    (37, 'Flutes/Flute/TimGM6mb/flute-060-v090.wav')
    """
    soundfont = find_soundfont(soundfont)
    instruments = instruments or dict(DEFAULT_INSTRUMENTS)
    os.makedirs(output_folder, exist_ok=True)
    tasks = [
        (
            name,
            spec,
            soundfont,
            tuple(velocities),
            held,
            release,
            sample_rate,
            output_folder,
        )
        for name, spec in sorted(instruments.items())
    ]
    total = sum(
        (spec.high - spec.low + 1) * len(velocities) for spec in instruments.values()
    )
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    results = {}
    with tqdm(
        total=total, desc="rendering notes", unit="note", disable=not progress
    ) as bar:
        if workers == 1:
            outputs = map(_render_instrument, tasks)
            pool = None
        else:
            pool = multiprocessing.get_context("spawn").Pool(workers)
            outputs = pool.imap_unordered(_render_instrument, tasks)
        try:
            for name, rows, silent in outputs:
                results[name] = (rows, silent)
                bar.update(len(rows) + silent)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    rows = [row for name in sorted(results) for row in results[name][0]]
    silent = {name: results[name][1] for name in sorted(results) if results[name][1]}
    if silent:
        logger.warning(
            "Dropped %d silent renders (peak below %g): %s",
            sum(silent.values()),
            SILENCE_PEAK,
            ", ".join(f"{n} {c}" for n, c in silent.items()),
        )
    write_metadata(rows, output_folder)
    logger.info(
        "Rendered %d notes of %d instruments into %s",
        len(rows),
        len(results),
        output_folder,
    )
    return {"rows": rows, "silent": silent, "soundfont": soundfont}


def write_metadata(rows, folder, name="metadata.csv"):
    """Writes (or extends) the metadata CSV of rendered notes."""
    path = os.path.join(folder, name)
    existing = read_metadata(folder) if os.path.isfile(path) else []
    kept = {row["path"]: row for row in existing}
    kept.update({row["path"]: row for row in rows})
    with open(path, "w", newline="", encoding="utf-8") as fout:
        writer = csv.DictWriter(fout, fieldnames=METADATA_FIELDS)
        writer.writeheader()
        writer.writerows(kept[key] for key in sorted(kept))
    return path


def read_metadata(folder, name="metadata.csv"):
    """Rows of a rendered data set's metadata CSV."""
    with open(os.path.join(folder, name), newline="", encoding="utf-8") as fin:
        return list(csv.DictReader(fin))


def _note_samples(row):
    return tuple(sample for sample in row["samples"].split("|") if sample) or (
        f"unzoned:{row['path']}",
    )


def _choose_block(notes, labels, split, target, rng, keep_free):
    """Samples of a pitch interval of notes to give to ``split``.

    Every interval of consecutive pitches is a candidate: its block is the
    set of samples its notes sound. A candidate is scored by how far the
    notes lying wholly inside the block are from ``target`` plus how many
    notes it would cut (partly inside); the seeded pick is among the best.
    Blocks that take a sample another split owns, or leave fewer than
    ``keep_free`` unassigned samples, are not candidates.

    Arguments
    ---------
    notes : dict
        ``{pitch: [sample tuples of its notes]}`` of one instrument.
    labels : dict
        ``{sample: split}`` assigned so far.
    split : str
        Split being filled.
    target : float
        Wished number of notes.
    rng : random.Random
        Source of the pick among the best candidates.
    keep_free : int
        Unassigned samples to leave for later splits.

    Returns
    -------
    set
        Samples to assign to ``split`` (empty when no candidate fits).
    """
    pitches = sorted(notes)
    free = {s for group in notes.values() for samples in group for s in samples}
    free -= set(labels)
    candidates = []
    for first in range(len(pitches)):
        block = set()
        for last in range(first, len(pitches)):
            for samples in notes[pitches[last]]:
                block.update(samples)
            if any(labels.get(sample, split) != split for sample in block):
                break
            if len(free - block) < keep_free:
                break
            kept = cut = 0
            for group in notes.values():
                for samples in group:
                    inside = sum(sample in block for sample in samples)
                    kept += inside == len(samples)
                    cut += 0 < inside < len(samples)
            candidates.append((abs(kept - target) + cut, first, last, frozenset(block)))
            if kept >= target:
                break
    if not candidates:
        return set()
    best = min(score for score, _, _, _ in candidates)
    good = [block for score, _, _, block in candidates if score <= best + 0.5]
    return set(rng.choice(good))


def zone_split(rows, ratios=(70, 10, 20), seed=0):
    """Splits rendered notes so that no SoundFont sample is in two splits.

    Per instrument (in name order), a seeded interval of consecutive pitches
    goes to test, then another to valid (see :func:`_choose_block`): each
    takes every sample its notes sound; the instrument's other samples go to
    train. A sample shared with an instrument done earlier keeps its split. A
    note is kept in a split when every sample it sounds belongs to that split,
    and dropped otherwise (presets that layer several samples per note lose
    the notes at the interval edges). Test is filled before valid, so an
    instrument with two samples gets a train and a test one.

    Arguments
    ---------
    rows : list of dict
        Metadata rows (``path``, ``instrument``, ``midi_pitch``,
        ``samples``).
    ratios : sequence of 3 numbers
        Target train / valid / test shares.
    seed : int
        Seed of the interval positions.

    Returns
    -------
    dict
        ``{path: "train" | "valid" | "test" | None}`` (None: dropped).

    Example
    -------
    >>> rows = [{"path": f"n{k}", "instrument": "x", "midi_pitch": k,
    ...          "samples": f"s{k // 3}"} for k in range(30)]
    >>> split = zone_split(rows)
    >>> sorted(Counter(split.values()).items())
    [('test', 6), ('train', 21), ('valid', 3)]
    """
    rng = random.Random(seed)
    total_ratio = float(sum(ratios))
    labels = {}
    by_instrument = defaultdict(lambda: defaultdict(list))
    for row in rows:
        by_instrument[row["instrument"]][int(row["midi_pitch"])].append(
            _note_samples(row)
        )
    for instrument in sorted(by_instrument):
        notes = by_instrument[instrument]
        n_notes = sum(len(group) for group in notes.values())
        for name, keep_free in (("test", 1), ("valid", 1)):
            ratio = ratios[SPLITS.index(name)] / total_ratio
            if ratio > 0:
                block = _choose_block(
                    notes, labels, name, ratio * n_notes, rng, keep_free
                )
                labels.update(dict.fromkeys(block, name))
        for group in notes.values():
            for samples in group:
                for sample in samples:
                    labels.setdefault(sample, "train")
    assignment = {}
    for row in rows:
        splits = {labels[s] for s in _note_samples(row)}
        assignment[row["path"]] = splits.pop() if len(splits) == 1 else None
    return assignment


def cross_soundfont_split(
    rows, train_soundfont, test_soundfont, valid_ratio=10, seed=0
):
    """Train (and valid) on one SoundFont, test on all notes of another.

    Arguments
    ---------
    rows : list of dict
        Metadata rows of both SoundFonts.
    train_soundfont, test_soundfont : str
        SoundFont names (``soundfont`` column).
    valid_ratio : float
        Share (percent) of the training SoundFont's notes for validation,
        split by sample zone.
    seed : int
        Seed of the zone split.

    Returns
    -------
    dict
        ``{path: split}``; notes of other SoundFonts are not included.
    """
    if train_soundfont == test_soundfont:
        raise ValueError("the cross-SoundFont protocol needs two different SoundFonts")
    train_rows = [row for row in rows if row["soundfont"] == train_soundfont]
    test_rows = [row for row in rows if row["soundfont"] == test_soundfont]
    if not train_rows or not test_rows:
        missing = train_soundfont if not train_rows else test_soundfont
        raise ValueError(f"no rendered notes of {missing}")
    assignment = zone_split(train_rows, (100 - valid_ratio, valid_ratio, 0), seed)
    assignment.update({row["path"]: "test" for row in test_rows})
    return assignment


def write_split_files(rows, assignment, folder):
    """Writes ``{train,valid,test}_split.csv`` in the authors' SOL format.

    Rows are ``<label index>,<relative path>``: SOL's index where the class
    is one of SOL's, 100 + its position among the other classes otherwise.

    Returns
    -------
    dict
        ``{split: number of notes}``, plus ``dropped``.
    """
    others = sorted({row["class"] for row in rows} - set(SOL_CLASSES))
    os.makedirs(folder, exist_ok=True)
    counts = Counter(assignment.get(row["path"]) for row in rows)
    for name in SPLITS:
        with open(
            os.path.join(folder, f"{name}_split.csv"), "w", encoding="utf-8"
        ) as fout:
            for row in rows:
                if assignment.get(row["path"]) == name:
                    index = label_index(row["class"])
                    if index < 0:
                        index = 100 + others.index(row["class"])
                    fout.write(f"{index},{row['path']}\n")
    report = {name: counts.get(name, 0) for name in SPLITS}
    report["dropped"] = counts.get(None, 0)
    return report


def add_render_arguments(parser):
    """Adds the SoundFont, test SoundFont and instrument options to a parser.

    Example
    -------
    >>> parser = add_render_arguments(argparse.ArgumentParser())
    >>> parser.parse_args(["--instruments", "flute"]).instruments
    'flute'
    """
    parser.add_argument("--soundfont", help="SoundFont file (default: TimGM6mb)")
    parser.add_argument(
        "--test-soundfont",
        help="second SoundFont: train on --soundfont, test on all notes of this one",
    )
    parser.add_argument(
        "--instruments",
        default="",
        help="comma-separated names or name:program:low-high (default: 16 SOL-like)",
    )
    return parser


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Render single instrument notes from a SoundFont in the SOL layout."
    )
    parser.add_argument("--output", required=True, help="data set folder to write")
    add_render_arguments(parser)
    parser.add_argument(
        "--velocities",
        default=",".join(map(str, DEFAULT_VELOCITIES)),
        help="comma-separated MIDI velocities",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the zone split")
    parser.add_argument("--workers", type=int, default=None, help="render processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def prepare_rendered_dataset(
    output,
    soundfont=None,
    test_soundfont=None,
    instruments=None,
    velocities=DEFAULT_VELOCITIES,
    seed=0,
    workers=None,
    progress=True,
):
    """Renders a data set (if not already there) and writes its splits.

    The notes are rendered once per set of options (``render_options.json``
    records them); the split files go to ``<output>/splits``.

    Returns
    -------
    dict
        ``data_folder``, ``split_folder``, ``counts`` (notes per split and
        dropped), ``classes`` and ``soundfonts``.
    """
    soundfonts = [find_soundfont(soundfont)]
    if test_soundfont:
        soundfonts.append(find_soundfont(test_soundfont))
    instruments = instruments or dict(DEFAULT_INSTRUMENTS)
    options = {
        "soundfonts": [os.path.abspath(path) for path in soundfonts],
        "instruments": {name: list(spec) for name, spec in sorted(instruments.items())},
        "velocities": list(velocities),
    }
    options_path = os.path.join(output, "render_options.json")
    current = None
    if os.path.isfile(options_path):
        with open(options_path, encoding="utf-8") as fin:
            current = json.load(fin)
    if current != options:
        for path in soundfonts:
            render_dataset(
                output,
                path,
                instruments,
                velocities,
                workers=workers,
                progress=progress,
            )
        with open(options_path, "w", encoding="utf-8") as fout:
            json.dump(options, fout, indent=1)
    else:
        logger.info("Notes in %s are already rendered with these options", output)
    names = {soundfont_name(path) for path in soundfonts}
    rows = [
        row
        for row in read_metadata(output)
        if row["soundfont"] in names and row["instrument"] in instruments
    ]
    if test_soundfont:
        assignment = cross_soundfont_split(
            rows,
            soundfont_name(soundfonts[0]),
            soundfont_name(soundfonts[1]),
            seed=seed,
        )
    else:
        assignment = zone_split(rows, seed=seed)
    split_folder = os.path.join(output, "splits")
    counts = write_split_files(rows, assignment, split_folder)
    logger.info(
        "Split by SoundFont sample: %s",
        ", ".join(f"{name} {count}" for name, count in counts.items()),
    )
    return {
        "data_folder": output,
        "split_folder": split_folder,
        "counts": counts,
        "classes": sorted({row["class"] for row in rows}),
        "soundfonts": [soundfont_name(path) for path in soundfonts],
    }


def main(argv=None):
    """Command-line entry point."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = _parse_args(argv)
    report = prepare_rendered_dataset(
        args.output,
        soundfont=args.soundfont,
        test_soundfont=args.test_soundfont,
        instruments=parse_instruments(args.instruments),
        velocities=[int(v) for v in args.velocities.split(",") if v.strip()],
        seed=args.seed,
        workers=args.workers,
        progress=not args.no_progress,
    )
    logger.info(
        "Data set: %s (%d classes); splits in %s: %s",
        report["data_folder"],
        len(report["classes"]),
        report["split_folder"],
        report["counts"],
    )


if __name__ == "__main__":
    main()
