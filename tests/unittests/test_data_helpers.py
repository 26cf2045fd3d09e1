"""Manifests, splits, audio pipelines, augmentation and initialisation."""

import json

import pytest
import soundfile
import torch

from speechbrain_protos.augment import FeatureAugmentation
from speechbrain_protos.data.clips import crop_samples, random_crop, read_clip
from speechbrain_protos.data.manifests import (
    cut_segments,
    manifests_are_current,
    probe_audio,
    seeded_split,
    split_by_position,
    write_manifests,
)
from speechbrain_protos.prototype_init import class_means, kmeans_plus_plus


def test_seeded_split_is_reproducible_stratified_and_disjoint():
    keys = [f"clip{i}" for i in range(40)]
    strata = {key: "a" if i < 30 else "b" for i, key in enumerate(keys)}
    first = seeded_split(keys, (70, 10, 20), seed=3, strata=strata)
    again = seeded_split(list(reversed(keys)), (70, 10, 20), seed=3, strata=strata)
    assert first == again
    assert sorted(sum(first.values(), [])) == sorted(keys)
    for name in ("train", "valid", "test"):
        assert {strata[key] for key in first[name]} == {"a", "b"}
    assert seeded_split(keys, (70, 10, 20), seed=4) != first


def test_tiny_classes_still_reach_every_split():
    split = seeded_split(["x", "y", "z"], (70, 10, 20), seed=0)
    assert all(len(split[name]) == 1 for name in ("train", "valid", "test"))


def test_position_split_and_segments_never_overlap():
    ranges = split_by_position(160000, (70, 10, 20))
    assert (
        ranges["train"][1] == ranges["valid"][0]
        and ranges["valid"][1] == ranges["test"][0]
    )
    segments = cut_segments(*ranges["train"], 48000, 16000)
    assert segments == [(0, 48000), (48000, 96000), (96000, 112000)]


def test_manifests_are_rewritten_when_options_change(tmp_path):
    entry = {
        "wav": "{data_root}/a.wav",
        "start": 0,
        "stop": 8,
        "sample_rate": 8000,
        "duration": 0.001,
        "label": "a",
    }
    splits = {name: {f"{name}0": entry} for name in ("train", "valid", "test")}
    write_manifests(tmp_path, splits, {"seed": 1})
    assert manifests_are_current(tmp_path, {"seed": 1})
    assert not manifests_are_current(tmp_path, {"seed": 2})
    assert json.loads((tmp_path / "valid.json").read_text())["valid0"]["label"] == "a"
    with pytest.raises(ValueError, match="test split"):
        write_manifests(tmp_path, {**splits, "test": {}}, {"seed": 1})


def test_bad_audio_files_are_skipped_and_counted(tmp_path):
    good = tmp_path / "good.wav"
    soundfile.write(good, [0.1] * 100, 8000)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, [], 8000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEjunk")
    files, skipped = probe_audio([str(good), str(empty), str(broken)], min_samples=1)
    assert [f.path for f in files] == [str(good)]
    assert skipped == {"too short": [str(empty)], "unreadable": [str(broken)]}


def test_read_clip_downmixes_resamples_and_cuts(tmp_path):
    path = tmp_path / "stereo.wav"
    left = torch.linspace(-0.5, 0.5, 1600)
    soundfile.write(path, torch.stack([left, -left], 1).numpy(), 8000)
    clip = read_clip(str(path), 0, 1600, 8000, 8000)
    assert clip.shape == (1600,) and clip.abs().max() < 1e-4  # channels cancel (16-bit)
    part = read_clip(str(path), 400, 800, 8000, 16000)
    assert part.shape == (800,)


def test_crops_give_exactly_the_frames_asked_for():
    from speechbrain_protos.features import LogMel

    logmel = LogMel(sample_rate=16000, n_fft=1024, hop_length=512)
    n = crop_samples(64, 512)
    assert logmel(random_crop(torch.rand(50000), n)).shape[1] == 64
    assert logmel(random_crop(torch.rand(3000), n)).shape[1] == 64  # looped


def test_augmentation_parts():
    torch.manual_seed(0)
    feats = torch.rand(3, 5, 16)
    shifted = FeatureAugmentation(stretch_std=0, bias_std=0.05, noise_std=0)(feats)
    offsets = (shifted - feats).flatten(1)
    assert torch.allclose(offsets, offsets[:, :1].expand_as(offsets), atol=1e-6)
    noisy = FeatureAugmentation(stretch_std=0, bias_std=0, noise_std=0.01)(feats)
    assert 0.005 < (noisy - feats).std() < 0.015
    stretched = FeatureAugmentation(stretch_std=0.15, bias_std=0, noise_std=0)(feats)
    assert (
        stretched.min() >= feats.min() - 1e-6 and stretched.max() <= feats.max() + 1e-6
    )
    with pytest.raises(ValueError, match="noise_std"):
        FeatureAugmentation(noise_std=-1)


def test_kmeans_plus_plus_spreads_and_checks_sizes():
    points = torch.cat(
        [torch.zeros(10, 2), torch.ones(10, 2) * 5, torch.ones(1, 2) * -5]
    )
    chosen = kmeans_plus_plus(points, 3, torch.Generator().manual_seed(0))
    assert sorted(points[chosen][:, 0].tolist()) == [-5.0, 0.0, 5.0]
    same = torch.ones(4, 2)
    assert len(set(kmeans_plus_plus(same, 3).tolist())) == 3
    with pytest.raises(ValueError, match="at least as many training clips"):
        kmeans_plus_plus(points, 30)


def test_class_means_need_every_class():
    with pytest.raises(ValueError, match=r"classes \[1\]"):
        class_means(torch.rand(3, 2), torch.tensor([0, 0, 2]), 3)
