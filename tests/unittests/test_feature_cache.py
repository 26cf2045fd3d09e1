"""The feature cache gives the front end's features, computes each clip once,
and never serves features of another configuration or of an edited file."""

import logging
import os
import shutil

import numpy as np
import pytest
import soundfile
import torch

from speechbrain_protos.data.clips import crop_samples, loop_to_length, read_clip
from speechbrain_protos.data.feature_cache import FeatureCache, random_frame_crop
from speechbrain_protos.features import LogMel

RATE = 16000


@pytest.fixture
def front_end():
    return LogMel(sample_rate=RATE, n_fft=1024, hop_length=512, n_mels=64)


@pytest.fixture
def utterance(tmp_path, librispeech_flac):
    """A private copy of a real utterance (tests edit it)."""
    path = tmp_path / "utterance.flac"
    shutil.copy(librispeech_flac, path)
    return str(path)


def stored(cache):
    return sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(cache.folder)
        for name in names
        if name.endswith(".npy")
    )


def test_whole_clip_is_the_front_end_output_and_computed_once(
    tmp_path, front_end, utterance, monkeypatch
):
    cache = FeatureCache(str(tmp_path / "cache"), front_end)
    start, stop = 1000, 1000 + 3 * RATE
    feats = cache.features(utterance, start, stop, RATE)
    signal = read_clip(utterance, start, stop, RATE, RATE)
    expected = front_end(signal.unsqueeze(0))[0]
    assert torch.allclose(feats, expected, atol=1e-6)
    assert len(stored(cache)) == 1

    def no_compute(*args):
        raise AssertionError("computed again instead of read from the cache")

    monkeypatch.setattr(cache, "_compute", no_compute)
    assert torch.equal(cache.features(utterance, start, stop, RATE), feats)
    # A new cache object on the same folder (a new process, a later epoch's
    # worker) reads the same entry.
    again = FeatureCache(str(tmp_path / "cache"), front_end)
    monkeypatch.setattr(again, "_compute", no_compute)
    assert torch.equal(again.features(utterance, start, stop, RATE), feats)


def test_other_config_range_or_file_content_is_a_new_entry(
    tmp_path, front_end, utterance
):
    cache = FeatureCache(str(tmp_path / "cache"), front_end)
    first = cache.features(utterance, 0, RATE, RATE)
    other_range = cache.features(utterance, RATE, 2 * RATE, RATE)
    assert not torch.equal(first, other_range)
    assert len(stored(cache)) == 2

    wider = LogMel(sample_rate=RATE, n_fft=1024, hop_length=512, n_mels=80)
    other_config = FeatureCache(str(tmp_path / "cache"), wider)
    assert other_config.folder != cache.folder
    assert other_config.features(utterance, 0, RATE, RATE).shape[-1] == 80

    quiet, rate = soundfile.read(utterance)
    soundfile.write(utterance, 0.5 * quiet, rate)  # edited in place
    edited = cache.features(utterance, 0, RATE, RATE)
    signal = read_clip(utterance, 0, RATE, RATE, RATE)
    assert torch.allclose(edited, front_end(signal.unsqueeze(0))[0], atol=1e-6)
    assert not torch.allclose(edited, first, atol=1e-3)
    assert len(stored(cache)) == 3


def test_short_training_clips_are_looped_like_waveform_crops(
    tmp_path, front_end, utterance
):
    cache = FeatureCache(str(tmp_path / "cache"), front_end)
    n_frames = 40
    n_crop = crop_samples(n_frames, front_end.hop_length)
    short = cache.features(utterance, 0, RATE // 2, RATE, loop_to=n_crop)
    looped = loop_to_length(read_clip(utterance, 0, RATE // 2, RATE, RATE), n_crop)
    assert short.shape[0] == n_frames
    assert torch.allclose(short, front_end(looped.unsqueeze(0))[0], atol=1e-6)
    assert torch.equal(random_frame_crop(short, n_frames), short)


def test_frame_crops_match_waveform_crops_away_from_their_edges(
    tmp_path, front_end, utterance
):
    cache = FeatureCache(str(tmp_path / "cache"), front_end)
    hop, n_frames = front_end.hop_length, 24
    n_crop = crop_samples(n_frames, hop)
    whole = cache.features(utterance, 0, 4 * RATE, RATE, loop_to=n_crop)
    signal = read_clip(utterance, 0, 4 * RATE, RATE, RATE)
    edge = front_end.n_fft // (2 * hop)  # frames whose window passes a crop edge
    torch.manual_seed(0)
    offsets = set()
    for _ in range(20):
        crop = random_frame_crop(whole, n_frames)
        assert crop.shape == (n_frames, 64)
        offset = next(
            start
            for start in range(whole.shape[0] - n_frames + 1)
            if torch.equal(whole[start : start + n_frames], crop)
        )
        offsets.add(offset)
        waveform_crop = signal[offset * hop : offset * hop + n_crop]
        direct = front_end(waveform_crop.unsqueeze(0))[0]
        inner = slice(edge, n_frames - edge)
        assert torch.allclose(crop[inner], direct[inner], atol=1e-5)
    assert len(offsets) > 10  # the offsets vary


def test_size_bound_stops_storing_but_still_computes(
    tmp_path, front_end, utterance, caplog
):
    cache = FeatureCache(
        str(tmp_path / "cache"), front_end, max_gigabytes=4096 / 1024**3
    )
    with caplog.at_level(logging.WARNING):
        small = cache.features(utterance, 0, RATE // 4, RATE)  # 8 x 64 floats: 2 KiB
        big = cache.features(utterance, 0, 8 * RATE, RATE)  # 63 KiB: past the bound
    assert small.shape[0] == 8 and big.shape[0] == 251
    assert len(stored(cache)) == 1
    assert "reached its bound" in caplog.text


def test_unreadable_entry_is_recomputed(tmp_path, front_end, utterance, caplog):
    cache = FeatureCache(str(tmp_path / "cache"), front_end)
    feats = cache.features(utterance, 0, RATE, RATE)
    (entry,) = stored(cache)
    with open(entry, "wb") as fout:
        fout.write(b"not a numpy file")
    with caplog.at_level(logging.WARNING):
        again = cache.features(utterance, 0, RATE, RATE)
    assert torch.allclose(again, feats)
    assert "unreadable entry" in caplog.text
    assert np.load(entry).shape == tuple(feats.shape)  # rewritten


def test_missing_file_and_bad_bound_are_clear_errors(tmp_path, front_end):
    cache = FeatureCache(str(tmp_path / "cache"), front_end)
    missing = str(tmp_path / "nowhere.wav")
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        cache.features(missing, 0, 100, RATE)
    with pytest.raises(ValueError, match="max_gigabytes must be positive"):
        FeatureCache(str(tmp_path / "cache"), front_end, max_gigabytes=0)
    with pytest.raises(TypeError, match="a `config` dict"):
        FeatureCache(str(tmp_path / "cache"), torch.nn.Identity())
