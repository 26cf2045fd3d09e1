"""Shared fixtures: where the real recordings for tests live."""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA_ENV = "SB_PROTOS_SHARED_DATA"


def find_shared_data():
    """The folder of real recordings: the LibriSpeech excerpt and FSDD.

    Looked for in ``$SB_PROTOS_SHARED_DATA``, then in ``shared/data`` next to
    the checkout or next to any of its parents, then in ``/work/shared/data``.
    """
    candidates = []
    if os.environ.get(DATA_ENV):
        candidates.append(pathlib.Path(os.environ[DATA_ENV]))
    candidates += [parent / "shared" / "data" for parent in REPO_ROOT.parents]
    candidates.append(pathlib.Path("/work/shared/data"))
    for candidate in candidates:
        if (candidate / "LibriSpeech").is_dir():
            return candidate
    raise FileNotFoundError(
        "the real recordings for tests were not found; looked in "
        + ", ".join(str(c) for c in candidates)
        + f". Set {DATA_ENV} to the folder that holds LibriSpeech/ and fsdd/."
    )


@pytest.fixture(scope="session")
def shared_data():
    """Path of the read-only folder of real recordings."""
    return find_shared_data()


@pytest.fixture(scope="session")
def librispeech_flac(shared_data):
    """One real 16 kHz LibriSpeech utterance (speaker 103, 14 s)."""
    path = shared_data / "LibriSpeech/train-clean-100/103/1240/103-1240-0000.flac"
    assert path.is_file(), f"expected the LibriSpeech excerpt at {path}"
    return path
