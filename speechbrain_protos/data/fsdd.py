"""Manifests of the Free Spoken Digit Dataset as a speaker-ID task.

FSDD holds ``<digit>_<speaker>_<index>.wav`` recordings: six speakers
saying each digit fifty times (8 kHz mono). The label is the speaker.
The customary test split is indices 0-4 of every digit and speaker; this
module puts indices 5-9 in validation and the rest in training, so the
three splits never share a recording.

Authors
 * speechbrain-protos developers 2026
"""

import glob
import json
import logging
import os
import re

from speechbrain_protos.data.manifests import (
    manifest_entry,
    manifests_are_current,
    probe_audio,
    require_folder,
    write_manifests,
)

logger = logging.getLogger(__name__)

FILE_PATTERN = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
TEST_INDICES = range(0, 5)
VALID_INDICES = range(5, 10)


def split_of(index):
    """Split of a recording by its index (FSDD's customary test split).

    Example
    -------
    >>> split_of(3), split_of(7), split_of(12)
    ('test', 'valid', 'train')
    """
    if index in TEST_INDICES:
        return "test"
    if index in VALID_INDICES:
        return "valid"
    return "train"


def prepare_fsdd(data_folder, save_folder, max_index=None):
    """Writes ``{train,valid,test}.json`` of FSDD's speakers.

    Arguments
    ---------
    data_folder : str
        FSDD's ``recordings`` folder (``<digit>_<speaker>_<index>.wav``).
    save_folder : str
        Where the manifests go.
    max_index : int, optional
        Keep only recordings with a smaller index (small test sets).

    Returns
    -------
    dict
        ``{split: number of clips}``.

    Example
    -------
    >>> import soundfile
    >>> folder = getfixture("tmpdir")
    >>> names = ["0_ann_0", "0_ann_7", "0_ann_20", "1_bob_1", "1_bob_9", "1_bob_30"]
    >>> for name in names:
    ...     soundfile.write(str(folder / f"{name}.wav"), [0.1] * 800, 8000)
    >>> prepare_fsdd(str(folder), str(folder / "save"))
    {'train': 2, 'valid': 2, 'test': 2}
    """
    require_folder(data_folder, "the FSDD recordings folder")
    options = {"data_folder": os.path.abspath(data_folder), "max_index": max_index}
    paths, names = [], {}
    for path in sorted(glob.glob(os.path.join(data_folder, "*.wav"))):
        match = FILE_PATTERN.match(os.path.basename(path))
        if match is None:
            logger.warning("Skipping %s: not <digit>_<speaker>_<index>.wav", path)
            continue
        if max_index is not None and int(match.group(3)) >= max_index:
            continue
        paths.append(path)
        names[path] = match
    if not paths:
        raise FileNotFoundError(
            f"no <digit>_<speaker>_<index>.wav recordings in {data_folder}"
        )
    if not manifests_are_current(save_folder, options):
        files, _ = probe_audio(paths)
        splits = {"train": {}, "valid": {}, "test": {}}
        for audio in files:
            digit, speaker, index = names[audio.path].groups()
            clip_id = f"{speaker}_{digit}_{index}"
            splits[split_of(int(index))][clip_id] = manifest_entry(
                audio, data_folder, speaker
            )
        write_manifests(save_folder, splits, options)
    return count_manifest_clips(save_folder)


def count_manifest_clips(save_folder):
    """Clips in each manifest of ``save_folder``."""
    counts = {}
    for name in ("train", "valid", "test"):
        with open(os.path.join(save_folder, f"{name}.json"), encoding="utf-8") as fin:
            counts[name] = len(json.load(fin))
    return counts
