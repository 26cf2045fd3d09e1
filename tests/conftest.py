"""Shared fixtures: where the real recordings for tests live, a process group."""

import os
import pathlib

import pytest
import torch.distributed as dist

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


@pytest.fixture
def one_process_group(tmp_path):
    """A gloo process group of one process, as ``torchrun`` would start."""
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    yield
    if dist.is_initialized():
        dist.destroy_process_group()
