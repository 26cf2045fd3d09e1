"""Manifests for instrument identification on SOL.

Reads the SOL folder layout, ``<Family>/<Instrument>/<technique>/<file>``
(SOL 0.9 HQ, e.g. ``Strings/Viola-sordina/ordinario/Va-ord-A4-mf.wav``), also
when it sits in one wrapping folder such as OrchideaSOL's
``OrchideaSOL2020/``. The class of a file is ``<Family>/<Instrument>``: muted
variants are instrument folders of their own (``Trumpets/Trumpet-C-wah``),
hence SOL 0.9 HQ's 33 classes. Multichannel files are downmixed when read.

Splits: given ``split_folder`` with the authors' ``train_split.csv``,
``valid_split.csv`` and ``test_split.csv`` (rows ``<label index>,<path
relative to the SOL root>``, no header), those are used; otherwise a seeded
70/10/20 split stratified by class.

Authors
 * speechbrain-protos developers 2026
"""

import logging
import os

from speechbrain_protos.data.manifests import (
    SPLITS,
    file_digests,
    manifest_entry,
    manifests_are_current,
    probe_audio,
    read_split_file,
    require_folder,
    seeded_split,
    write_manifests,
)
from speechbrain_protos.data.sol import LAYOUT_DEPTH, SOL_CLASSES, label_of

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".aif", ".aiff", ".flac")


def prepare_sol(
    data_folder,
    save_folder,
    split_folder=None,
    split_ratio=(70, 10, 20),
    seed=0,
    skip_prep=False,
):
    """Writes ``{train,valid,test}.json`` for SOL instrument ID.

    Arguments
    ---------
    data_folder : str
        SOL root (or a folder holding exactly one SOL root).
    save_folder : str
        Where the manifests go.
    split_folder : str, optional
        Folder with the authors' split CSVs; None for a seeded split.
    split_ratio : sequence of 3 numbers
        Relative sizes of train, valid and test (seeded split only).
    seed : int
        Seed of the split.
    skip_prep : bool
        Do nothing.

    Example
    -------
    >>> prepare_sol("/data/SOL_0.9_HQ", "results/save")  # doctest: +SKIP
    """
    if skip_prep:
        return
    options = {
        "data_folder": os.path.abspath(data_folder),
        "split_folder": os.path.abspath(split_folder) if split_folder else None,
        # an edited split file must redo the manifests
        "split_files": file_digests(
            [os.path.join(split_folder, f"{name}_split.csv") for name in SPLITS]
        )
        if split_folder
        else None,
        "split_ratio": list(split_ratio),
        "seed": seed,
    }
    if manifests_are_current(save_folder, options):
        logger.info("Manifests in %s are up to date; skipping preparation", save_folder)
        return
    root, relative_paths = find_sol_files(data_folder)
    if split_folder:
        split = read_official_splits(split_folder, root, set(relative_paths))
    else:
        labels = {path: label_of(path) for path in relative_paths}
        split = seeded_split(relative_paths, split_ratio, seed, strata=labels)
    splits = {}
    for name in SPLITS:
        files, _ = probe_audio([os.path.join(root, path) for path in split[name]])
        splits[name] = {
            _clip_id(audio.path, root): manifest_entry(
                audio, data_folder, label_of(os.path.relpath(audio.path, root))
            )
            for audio in files
        }
    write_manifests(save_folder, splits, options)


def _clip_id(path, root):
    relative = os.path.splitext(os.path.relpath(path, root))[0]
    return relative.replace(os.sep, "/")


def _audio_files(folder):
    found = []
    for parent, _, names in os.walk(folder):
        for name in names:
            if name.lower().endswith(AUDIO_EXTENSIONS) and not name.startswith("."):
                found.append(os.path.relpath(os.path.join(parent, name), folder))
    return sorted(found)


def find_sol_files(data_folder):
    """Locates the SOL root and its audio files.

    Arguments
    ---------
    data_folder : str
        SOL root, or a folder whose only subfolder is the SOL root.

    Returns
    -------
    root : str
        The folder that holds ``<Family>/<Instrument>/<technique>/<file>``.
    relative_paths : list of str
        Audio files at that depth, relative to ``root``; files at other
        depths are skipped, logged and counted.

    Raises
    ------
    FileNotFoundError
        If ``data_folder`` does not exist.
    ValueError
        If it holds no audio, or no audio at the SOL depth.
    """
    require_folder(data_folder, "the SOL data folder")
    candidates = [data_folder]
    subfolders = [
        entry.path
        for entry in os.scandir(data_folder)
        if entry.is_dir() and not entry.name.startswith(".")
    ]
    if len(subfolders) == 1:
        candidates.append(subfolders[0])
    everything = _audio_files(data_folder)
    if not everything:
        raise ValueError(
            f"{data_folder} holds no audio file ({', '.join(AUDIO_EXTENSIONS)})"
        )
    for root in candidates:
        files = _audio_files(root)
        at_depth = [p for p in files if len(p.split(os.sep)) == LAYOUT_DEPTH]
        if at_depth:
            others = [p for p in files if len(p.split(os.sep)) != LAYOUT_DEPTH]
            if others:
                logger.warning(
                    "Skipping %d audio files outside the SOL layout under %s, e.g. %s",
                    len(others),
                    root,
                    others[0],
                )
            logger.info("Found %d SOL audio files under %s", len(at_depth), root)
            return root, at_depth
    raise ValueError(
        f"{data_folder} matches neither SOL layout: expected audio files at "
        "<Family>/<Instrument>/<technique>/<file> (SOL 0.9 HQ), possibly inside "
        "one folder such as OrchideaSOL2020/; found e.g. "
        f"{os.path.join(data_folder, everything[0])}"
    )


def read_official_splits(split_folder, root, available):
    """Reads the authors' ``{train,valid,test}_split.csv`` files.

    Arguments
    ---------
    split_folder : str
        Folder with the three CSV files.
    root : str
        SOL root the paths are relative to.
    available : set of str
        Relative paths found on disk; rows naming other files are skipped,
        logged and counted.

    Returns
    -------
    dict
        ``{split: [relative paths]}``.
    """
    require_folder(split_folder, "the split folder")
    split = {}
    for name in SPLITS:
        path = os.path.join(split_folder, f"{name}_split.csv")
        rows, missing, mismatched = [], [], 0
        for index, item in read_split_file(path):
            relative = os.path.normpath(item)
            if relative not in available:
                missing.append(relative)
                continue
            if index < len(SOL_CLASSES) and SOL_CLASSES[index] != label_of(relative):
                mismatched += 1
            rows.append(relative)
        if missing:
            logger.warning(
                "%s: skipped %d rows whose file is not under %s, e.g. %s",
                path,
                len(missing),
                root,
                missing[0],
            )
        if mismatched:
            logger.warning(
                "%s: %d rows' label index disagrees with their folder; the "
                "folder is used",
                path,
                mismatched,
            )
        split[name] = rows
    return split
