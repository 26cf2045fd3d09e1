"""Fixtures of the recipe tests: tiny real data sets."""

import pytest
from recipe_helpers import FSDD_CLIPS_PER_DIGIT


@pytest.fixture(scope="session")
def fsdd_as_sol(tmp_path_factory, shared_data):
    """FSDD's real recordings in the SOL layout: Voices/<speaker>/spoken/*.wav.

    Six speakers play the part of six instruments (links, not copies).
    """
    root = tmp_path_factory.mktemp("fsdd_sol")
    for path in sorted((shared_data / "fsdd" / "recordings").glob("*.wav")):
        digit, speaker, index = path.stem.split("_")
        if int(index) >= FSDD_CLIPS_PER_DIGIT:
            continue
        target = root / "Voices" / speaker / "spoken" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
    return root


@pytest.fixture(scope="session")
def librispeech_root(shared_data):
    return shared_data / "LibriSpeech"
