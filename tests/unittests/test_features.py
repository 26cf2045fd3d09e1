"""Log-mel front end: values, layout, resampling, inverse, bad input."""

import math

import pytest
import soundfile
import torch

from speechbrain_protos.features import LogMel, hz_to_mel

# Part of the smoke subset of make check-latest and make check-oldest.
pytestmark = pytest.mark.smoke

SOL = dict(sample_rate=44100, n_fft=2048, hop_length=512, n_mels=128)
LIBRI = dict(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128)

# Bound on the mean squared log-mel error of LogMel -> inverse -> LogMel on
# a real utterance (measured 2.6e-5 with 64 Griffin-Lim iterations).
ROUND_TRIP_MSE_BOUND = 1e-4


def sine(frequency, sample_rate, seconds=1.0, amplitude=0.5):
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    return amplitude * torch.sin(2 * math.pi * frequency * t)


@pytest.mark.parametrize("config", [SOL, LIBRI], ids=["sol", "librispeech"])
def test_shape_and_range(config):
    logmel = LogMel(**config)
    n_samples = config["sample_rate"]
    wavs = torch.stack(
        [sine(440.0, n_samples, amplitude=1.0), torch.rand(n_samples) * 2 - 1]
    )
    feats = logmel(wavs)
    assert feats.shape == (2, 1 + n_samples // 512, 128)
    assert feats.shape[1] == logmel.n_frames(n_samples)
    assert feats.min() >= 0.0 and feats.max() < 1.0


def test_silence_is_zero_and_normalisation():
    logmel = LogMel(**LIBRI)
    assert torch.equal(logmel(torch.zeros(1, 4000)), torch.zeros(1, 8, 128))
    # Doubling the amplitude multiplies power by 4: + log10(4) / 17 where
    # the signal dominates the 1e-10 floor.
    wav = sine(1000.0, 16000)
    quiet, loud = logmel(wav), logmel(2 * wav)
    strong = quiet > 0.5
    expected = math.log10(4.0) / 17.0
    assert torch.allclose(
        (loud - quiet)[strong], torch.full_like(loud[strong], expected), atol=1e-5
    )


@pytest.mark.parametrize("frequency", [250.0, 1000.0, 4000.0])
def test_peak_lands_on_htk_mel_bin(frequency):
    logmel = LogMel(**LIBRI)
    frame = logmel(sine(frequency, 16000))[0, 10]
    centers = logmel.bin_centers()
    spacing = float(centers[1] - centers[0])
    assert abs(float(centers[frame.argmax()]) - hz_to_mel(frequency)) <= spacing


def test_resamples_other_rates():
    logmel = LogMel(**LIBRI)
    native = logmel(sine(440.0, 16000))
    from_8k = logmel(sine(440.0, 8000), sample_rate=8000)
    assert from_8k.shape == native.shape
    assert from_8k[0, 5:-5].argmax(-1).eq(native[0, 5:-5].argmax(-1)).all()
    # Compare where the tone dominates, below the 8 kHz source's Nyquist.
    strong = (native[0, 5:-5] > 0.5) & (logmel.bin_centers() < hz_to_mel(3500.0))
    assert strong.sum() > 100
    assert (from_8k[0, 5:-5] - native[0, 5:-5])[strong].abs().max() < 0.01


def test_features_stay_float32_under_autocast(librispeech_flac):
    """``--precision=bf16`` must not compute the mel projection in bf16."""
    samples, rate = soundfile.read(librispeech_flac, dtype="float32")
    wav = torch.from_numpy(samples[: 2 * rate])[None]
    logmel = LogMel(**LIBRI)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = logmel(wav, sample_rate=rate)
    assert mixed.dtype == torch.float32
    assert torch.equal(mixed, logmel(wav, sample_rate=rate))


def test_real_fsdd_clip_at_8k(shared_data):
    path = next(iter(sorted((shared_data / "fsdd/recordings").glob("*.wav"))))
    samples, rate = soundfile.read(path, dtype="float32")
    assert rate == 8000
    feats = LogMel(**LIBRI)(torch.from_numpy(samples), sample_rate=rate)
    assert feats.shape[1] == 1 + (2 * len(samples)) // 512
    assert torch.isfinite(feats).all() and feats.max() > 0.3


def test_round_trip_on_real_recording(librispeech_flac):
    samples, rate = soundfile.read(librispeech_flac, dtype="float32")
    wav = torch.from_numpy(samples)[None]
    logmel = LogMel(**LIBRI)
    feats = logmel(wav, sample_rate=rate)
    audio = logmel.inverse(feats, n_samples=wav.shape[1])
    assert audio.shape == wav.shape
    error = (logmel(audio) - feats).pow(2).mean().item()
    assert error < ROUND_TRIP_MSE_BOUND, f"round-trip log-mel MSE {error:.2e}"


def test_inverse_is_deterministic_per_seed():
    logmel = LogMel(**LIBRI)
    feats = logmel(torch.rand(1, 8000) - 0.5)
    first, again = logmel.inverse(feats, seed=3), logmel.inverse(feats, seed=3)
    other = logmel.inverse(feats, seed=4)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    single = logmel.inverse(feats[0], seed=3)
    assert torch.equal(single, first[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_inverse_runs_on_the_front_ends_device_and_answers_on_the_inputs():
    logmel = LogMel(**LIBRI).cuda()
    feats = logmel(torch.rand(1, 8000, device="cuda") - 0.5)
    on_gpu = logmel.inverse(feats, seed=3)
    from_cpu = logmel.inverse(feats.cpu(), seed=3)
    assert on_gpu.device.type == "cuda" and from_cpu.device.type == "cpu"
    assert torch.equal(from_cpu, on_gpu.cpu())  # the same work, on the GPU
    on_cpu = LogMel(**LIBRI).inverse(feats, seed=3)  # a CPU front end
    assert on_cpu.device.type == "cuda" and on_cpu.shape == on_gpu.shape
    assert torch.isfinite(on_cpu).all()


@pytest.mark.parametrize(
    "wavs, lengths, message",
    [
        (torch.zeros(1, 0), None, "empty"),
        (torch.zeros(0, 4000), None, "empty"),
        (torch.tensor([[0.0, float("nan")] * 1000]), None, "NaN or infinite"),
        (torch.tensor([[0.0, float("inf")] * 1000]), None, "NaN or infinite"),
        (torch.zeros(1, 2, 4000), None, "shape"),
        (torch.tensor(0.0), None, "shape"),
        (torch.zeros(2, 4000), torch.tensor([1.0, 0.0]), r"\(0, 1\]"),
        (torch.zeros(2, 4000), torch.tensor([1.0, 1.2]), r"\(0, 1\]"),
        (torch.zeros(2, 4000), torch.tensor([1.0, float("nan")]), r"\(0, 1\]"),
        (torch.zeros(2, 4000), torch.tensor([1.0]), r"shape \[2\]"),
        (torch.zeros(1, 100), None, "too short"),
        (torch.zeros(1, 4000, dtype=torch.int16), None, "floating-point"),
    ],
)
def test_bad_input_raises_value_error(wavs, lengths, message):
    with pytest.raises(ValueError, match=message):
        LogMel(**LIBRI)(wavs, lengths)


def test_inverse_rejects_wrong_layout():
    with pytest.raises(ValueError, match="128"):
        LogMel(**LIBRI).inverse(torch.rand(1, 10, 64))
    with pytest.raises(ValueError, match="NaN"):
        LogMel(**LIBRI).inverse(torch.full((10, 128), float("nan")))
