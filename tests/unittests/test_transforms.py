"""Spectral transformations: identity, mel-awareness, borders, filters."""

import math

import pytest
import torch

from speechbrain_protos.features import LogMel, hz_to_mel, mel_bin_centers
from speechbrain_protos.transforms import (
    SpectralTransforms,
    TransformParams,
    filter_response,
    gain,
    interpolate_bins,
    pitch_positions,
    pitch_shift,
)

# Part of the smoke subset of make check-latest and make check-oldest.
pytestmark = pytest.mark.smoke

F = 128


def random_spectra(*shape):
    return torch.rand(*shape, F, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("warp", ["mel", "linear"])
@pytest.mark.parametrize("shape", ["hinge", "softplus"])
def test_identity_parameters_give_the_prototype_exactly(warp, shape):
    transforms = SpectralTransforms(F, 44100, pitch_warp=warp, filter_shape=shape)
    prototypes = random_spectra(5)
    params = TransformParams(
        gain=torch.zeros(2, 7, 5),
        factor=torch.ones(2, 7, 5),
        filters=torch.stack(
            [torch.rand(2, 7, 5), torch.zeros(2, 7, 5)] * 2, dim=-1
        ),  # any cutoff, zero slope
    )
    out = transforms(prototypes, params)
    assert out.shape == (2, 7, 5, F)
    assert torch.equal(out, prototypes.expand_as(out))
    assert torch.equal(transforms(prototypes, TransformParams()), prototypes)


@pytest.mark.parametrize("coords", [mel_bin_centers(F, 16000), torch.linspace(0, 1, F)])
def test_pitch_factor_one_is_exact_identity(coords):
    spectra = random_spectra(3, 4)
    positions = pitch_positions(torch.ones(3, 4), coords)
    assert torch.equal(
        positions, torch.arange(F, dtype=torch.float64).expand_as(positions)
    )
    assert torch.equal(pitch_shift(spectra, torch.ones(3, 4), coords), spectra)


def harmonic_frame(logmel, f0, n_harmonics=10):
    rate = logmel.sample_rate
    t = torch.arange(rate) / rate
    wav = sum(
        0.5 / h * torch.sin(2 * math.pi * h * f0 * t)
        for h in range(1, n_harmonics + 1)
        if h * f0 < rate / 2
    )
    return logmel(wav)[0, 20:60].mean(dim=0)


@pytest.mark.parametrize("ratio", [1.5, 0.75])
def test_mel_aware_shift_beats_the_official_linear_stretch(ratio):
    logmel = LogMel(sample_rate=44100, n_fft=2048, hop_length=512)
    source, target = (
        harmonic_frame(logmel, 220.0),
        harmonic_frame(logmel, 220.0 * ratio),
    )
    factor = torch.tensor(ratio)
    mel_error = (
        (pitch_shift(source, factor, logmel.bin_centers()) - target).pow(2).mean()
    )
    linear_error = (
        (pitch_shift(source, factor, torch.linspace(0, 1, F)) - target).pow(2).mean()
    )
    # Measured: about 8x closer for both ratios; demand at least 3x.
    assert mel_error * 3.0 < linear_error, (mel_error.item(), linear_error.item())


@pytest.mark.parametrize("factor", [0.8, 1.25, 2.0])
def test_mel_shift_moves_a_peak_to_factor_times_its_frequency(factor):
    centers = mel_bin_centers(F, 16000)
    source_bin = 40
    frame = torch.zeros(F)
    frame[source_bin] = 1.0
    shifted = pitch_shift(frame, torch.tensor(factor), centers)
    source_hz = 700.0 * (10 ** (centers[source_bin].item() / 2595.0) - 1.0)
    expected_mel = hz_to_mel(factor * source_hz)
    peak_mel = centers[shifted.argmax()].item()
    assert abs(peak_mel - expected_mel) <= float(centers[1] - centers[0])


def test_border_repeats_edge_bins():
    spectra = random_spectra(2)
    centers = mel_bin_centers(F, 16000)
    down = pitch_shift(spectra, torch.full((2,), 0.5), centers)
    # An octave down reads above the top bin for the upper output bins.
    assert torch.equal(down[:, -1], spectra[:, -1])
    up = pitch_shift(spectra, torch.full((2,), 2.0), centers)
    assert torch.equal(up[:, 0], spectra[:, 0])
    positions = pitch_positions(torch.tensor([0.3, 3.0]), centers)
    assert positions.min() >= 0 and positions.max() <= F - 1


def test_linear_interpolation_between_bins():
    spectrum = torch.tensor([1.0, 3.0, -1.0, 5.0])
    positions = torch.tensor([0.5, 1.25, 2.75, 3.0], dtype=torch.float64)
    expected = torch.tensor([2.0, 2.0, 3.5, 5.0])
    assert torch.allclose(interpolate_bins(spectrum, positions), expected)


def test_gain_then_pitch_equals_pitch_then_gain():
    spectra, offset = random_spectra(6), torch.randn(6)
    factor = torch.rand(6) + 0.5
    centers = mel_bin_centers(F, 16000)
    first = pitch_shift(gain(spectra, offset), factor, centers)
    second = gain(pitch_shift(spectra, factor, centers), offset)
    assert torch.allclose(first, second, atol=1e-6)


def test_hinge_filters_leave_the_passband_untouched():
    unit = torch.linspace(0, 1, F)
    cutoff, slope = torch.tensor(0.4), torch.tensor(-0.2)
    low = filter_response(cutoff, slope, unit, "low")
    high = filter_response(cutoff, slope, unit, "high")
    assert torch.equal(low[unit >= 0.4], torch.zeros_like(low[unit >= 0.4]))
    assert torch.equal(high[unit <= 0.4], torch.zeros_like(high[unit <= 0.4]))
    # Affine on the filtered side: reaches `slope` half a band from the cutoff.
    assert torch.allclose(low[0], slope * 2 * 0.4)
    assert torch.allclose(high[-1], slope * 2 * 0.6)


def test_softplus_filters_match_the_official_formula():
    unit = torch.linspace(0, 1, F)
    offset, slope = torch.tensor(0.1), torch.tensor(0.2)  # official a, G
    official_high = slope * torch.nn.functional.softplus(
        2 * (unit - 0.5 + offset), beta=10
    )
    official_low = slope * torch.nn.functional.softplus(
        -2 * (unit - 0.5 + offset), beta=10
    )
    cutoff = 0.5 - offset
    assert torch.allclose(
        filter_response(cutoff, slope, unit, "high", "softplus"), official_high
    )
    assert torch.allclose(
        filter_response(cutoff, slope, unit, "low", "softplus"), official_low
    )


def test_bad_options_raise():
    with pytest.raises(ValueError, match="pitch_warp"):
        SpectralTransforms(F, 16000, pitch_warp="hz")
    with pytest.raises(ValueError, match="filter_shape"):
        SpectralTransforms(F, 16000, filter_shape="box")
    with pytest.raises(ValueError, match="side"):
        filter_response(
            torch.tensor(0.5), torch.tensor(1.0), torch.linspace(0, 1, 4), "mid"
        )
    with pytest.raises(ValueError, match="at least 2 bins"):
        pitch_positions(torch.ones(1), torch.zeros(1))


def test_select_picks_each_clips_prototype():
    params = TransformParams(
        gain=torch.arange(24.0).view(2, 3, 4),
        filters=torch.arange(96.0).view(2, 3, 4, 4),
    )
    picked = params.select(torch.tensor([1, 3]))
    assert torch.equal(picked.gain, params.gain[[0, 1], :, [1, 3]])
    assert torch.equal(picked.filters[1], params.filters[1, :, 3])
    assert picked.factor is None
