"""PrototypeClassifier: loading, any audio file, rendering, reconstructions."""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile
import torch
import torchaudio
from hyperpyyaml import load_hyperpyyaml
from model_helpers import CLASSES, RATE, make_model_folder
from torch.nn import functional as F

from speechbrain_protos.audio import AudioFileError, read_audio
from speechbrain_protos.inference import PrototypeClassifier
from speechbrain_protos.lobes import PrototypeReconstructor
from speechbrain_protos.model_folder import WEIGHTS_FILE, load_weights


@pytest.fixture
def model_folder(tmp_path):
    return make_model_folder(tmp_path / "model")[0]


@pytest.fixture
def classifier(model_folder):
    return PrototypeClassifier.from_hparams(source=model_folder)


@pytest.fixture
def speech(librispeech_flac):
    """A real 16 kHz utterance, mono float32."""
    wav, rate = soundfile.read(str(librispeech_flac), dtype="float32")
    assert rate == RATE
    return wav[: 3 * RATE]


# ---- EncoderClassifier's interface ---------------------------------------------
@pytest.mark.smoke
def test_classify_batch_has_encoder_classifiers_shapes(classifier, speech):
    wavs = torch.from_numpy(np.stack([speech, speech[::-1].copy()]))
    lens = torch.tensor([1.0, 0.5])
    out_prob, score, index, text_lab = classifier.classify_batch(wavs, lens)
    assert out_prob.shape == (2, 3) and score.shape == (2,) and index.shape == (2,)
    assert all(label in CLASSES for label in text_lab)
    assert torch.allclose(out_prob.sum(dim=1), torch.ones(2))
    errors = classifier.encode_batch(wavs, lens)
    assert errors.shape == (2, 1, 3)
    beta = classifier.mods.model.beta
    assert torch.allclose(out_prob, torch.softmax(-beta * errors[:, 0], dim=1))
    assert torch.equal(index, errors[:, 0].argmin(dim=1))
    assert torch.equal(score, out_prob.max(dim=1).values)
    half = classifier.encode_batch(wavs[1:, : len(speech) // 2])
    assert torch.allclose(half[0], errors[1], rtol=1e-4, atol=1e-7)


def test_speechbrains_load_audio_gives_the_models_rate(tmp_path, speech):
    folder, _ = make_model_folder(tmp_path / "m", rate=24000)
    model = PrototypeClassifier.from_hparams(source=folder)
    path = str(tmp_path / "clip_8k.wav")
    soundfile.write(path, speech[::2], RATE // 2)
    assert model.load_audio(path).shape[0] == len(speech[::2]) * 3


def test_classify_file_matches_classify_batch(classifier, speech, tmp_path):
    path = str(tmp_path / "clip.wav")
    soundfile.write(path, speech, RATE, subtype="FLOAT")
    out_prob, score, index, text_lab = classifier.classify_file(path)
    batch = classifier.classify_batch(torch.from_numpy(speech)[None])
    assert torch.equal(out_prob, batch[0]) and text_lab == batch[3]


# ---- Any audio file ------------------------------------------------------------
@pytest.mark.parametrize(
    "name, rate, subtype, channels",
    [
        ("8k.wav", 8000, "PCM_16", 1),
        ("44k.wav", 44100, "PCM_16", 1),
        ("stereo.wav", RATE, "PCM_16", 2),
        ("8bit.wav", RATE, "PCM_U8", 1),
        ("24bit.wav", RATE, "PCM_24", 1),
        ("clip.flac", RATE, "PCM_16", 1),
    ],
)
def test_any_format_rate_and_channels_classify(
    classifier, speech, tmp_path, name, rate, subtype, channels
):
    signal = torch.from_numpy(speech)
    if rate != RATE:
        signal = torchaudio.functional.resample(signal, RATE, rate)
    data = signal.numpy()
    if channels == 2:
        data = np.stack([data, 0.5 * data], axis=1)
    path = str(tmp_path / name)
    soundfile.write(path, data, rate, subtype=subtype)
    errors = classifier.file_errors(path)
    assert torch.isfinite(errors).all()
    # What the file holds, downmixed and resampled by hand, gives the errors.
    held, _ = soundfile.read(path, dtype="float32", always_2d=True)
    held = torch.from_numpy(held.mean(axis=1))
    if rate != RATE:
        held = torchaudio.functional.resample(held, rate, RATE)
    expected = classifier.encode_batch(held)[0, 0]
    assert torch.allclose(errors, expected, rtol=1e-5), (errors, expected)
    if rate == RATE and channels == 1:  # only quantised: close to the original
        original = classifier.encode_batch(torch.from_numpy(speech))[0, 0]
        assert torch.allclose(errors, original, rtol=0.25), (errors, original)
    _, score, _, text_lab = classifier.classify_file(path)
    assert text_lab[0] in CLASSES and 0 < float(score[0]) <= 1


def mixed_length_clips(shared_data, folder):
    """Real utterances of ten LibriSpeech readers cut to 0.4 s to 3 s."""
    flacs = sorted((shared_data / "LibriSpeech").rglob("*.flac"))[:10]
    seconds = [0.4, 2.9, 0.55, 1.3, 0.8, 3.0, 0.45, 2.2, 0.62, 1.7]
    paths = []
    for flac, length in zip(flacs, seconds):
        wav, rate = soundfile.read(str(flac), dtype="float32")
        path = str(folder / f"{flac.stem}.wav")
        soundfile.write(path, wav[rate : rate + int(length * rate)], rate)
        paths.append(path)
    return paths


def test_a_clips_errors_do_not_depend_on_its_batch_mates(
    classifier, shared_data, tmp_path
):
    """Short clips padded next to long ones: every clip's errors equal its
    errors alone, and so does the decision."""
    paths = mixed_length_clips(shared_data, tmp_path)
    clips = [read_audio(path, RATE) for path in paths]
    alone = torch.stack([classifier.encode_batch(clip)[0, 0] for clip in clips])
    longest = max(clip.numel() for clip in clips)
    wavs = torch.stack([F.pad(clip, (0, longest - clip.numel())) for clip in clips])
    lens = torch.tensor([clip.numel() / longest for clip in clips])
    batched = classifier.encode_batch(wavs, lens)[:, 0]
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-8)
    assert torch.equal(batched.argmin(dim=1), alone.argmin(dim=1))


def test_classify_files_batches_like_one_at_a_time(classifier, shared_data, tmp_path):
    paths = mixed_length_clips(shared_data, tmp_path)
    # Batches of three; the files longer than 2 s are classified chunk by chunk.
    results = classifier.classify_files(paths, batch_size=3, chunk_seconds=2.0)
    assert [result.path for result in results] == paths
    for path, result in zip(paths, results):
        out_prob, alone_score, index, alone_label = classifier.classify_file(path, 2.0)
        assert result.error is None
        assert (result.label, result.index) == (alone_label[0], int(index[0]))
        assert result.score == pytest.approx(float(alone_score[0]), rel=1e-5)
        expected = dict(zip(CLASSES, out_prob[0].tolist()))
        assert result.probabilities == pytest.approx(expected, rel=1e-5)


def test_bad_files_among_good_ones_are_reported_and_the_rest_classified(
    classifier, speech, tmp_path
):
    good = []
    for number in range(3):
        good.append(str(tmp_path / f"good{number}.wav"))
        soundfile.write(good[-1], speech[number * RATE : (number + 1) * RATE], RATE)
    missing = str(tmp_path / "missing.wav")
    paths = [good[0], missing, good[1], good[2]]
    results = classifier.classify_files(paths, batch_size=2)
    assert [r.error is None for r in results] == [True, False, True, True]
    assert "missing.wav does not exist" in results[1].error
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        classifier.classify_files(paths, on_error="raise")


def test_a_50_ms_clip_classifies(classifier, speech, tmp_path):
    path = str(tmp_path / "short.wav")
    soundfile.write(path, speech[RATE : RATE + 800], RATE)
    _, _, _, text_lab = classifier.classify_file(path)
    assert text_lab[0] in CLASSES


def test_a_clip_shorter_than_half_a_frame_is_refused(classifier, speech, tmp_path):
    """The front end needs n_fft // 2 + 1 samples (257 here); one sample,
    padded with silence, would be classified as silence."""
    path = str(tmp_path / "one_sample.wav")
    soundfile.write(path, speech[RATE : RATE + 1], RATE)
    with pytest.raises(AudioFileError, match="1 samples long .* at least 257"):
        classifier.classify_file(path)
    assert "at least 257" in classifier.classify_files([path])[0].error


def test_long_file_in_chunks_matches_the_whole(classifier, speech, tmp_path):
    path = str(tmp_path / "long.wav")
    soundfile.write(path, np.tile(speech, 4), RATE, subtype="FLOAT")
    whole = classifier.file_errors(path, chunk_seconds=1000)
    chunked = classifier.file_errors(path, chunk_seconds=3.0)
    assert torch.allclose(whole, chunked, rtol=0.05)


def peak_rss_mib(model_folder, audio):
    script = textwrap.dedent(
        f"""
        import resource, sys
        from speechbrain_protos.inference import PrototypeClassifier
        model = PrototypeClassifier.from_hparams(source={model_folder!r})
        model.classify_file({audio!r})
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    return float(out.stdout.split()[-1])


def test_ten_minute_file_in_bounded_memory(model_folder, tmp_path):
    rng = np.random.default_rng(0)
    short = str(tmp_path / "short.wav")
    soundfile.write(short, 0.1 * rng.standard_normal(30 * RATE), RATE)
    long = str(tmp_path / "long.wav")
    with soundfile.SoundFile(long, "w", RATE, 1, subtype="PCM_16") as fout:
        for _ in range(20):  # 20 x 30 s = 10 minutes
            fout.write(0.1 * rng.standard_normal(30 * RATE))
    assert soundfile.info(long).duration == 600
    short_peak = peak_rss_mib(model_folder, short)
    long_peak = peak_rss_mib(model_folder, long)
    # Measured: about the same peak; the whole file as float32 would be 37 MiB
    # and its features and errors several times that.
    assert long_peak < short_peak + 30, (short_peak, long_peak)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        (b"", "cannot read"),
        (b"this is not audio at all" * 10, "cannot read"),
    ],
)
def test_bad_files_are_named(classifier, tmp_path, content, message):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((FileNotFoundError, AudioFileError), match=message) as error:
        classifier.classify_file(str(path))
    assert str(path) in str(error.value)


def test_empty_and_nan_audio_are_named(classifier, tmp_path):
    empty = str(tmp_path / "empty.wav")
    soundfile.write(empty, np.zeros(0, dtype="float32"), RATE)
    with pytest.raises(AudioFileError, match="no samples") as error:
        classifier.classify_file(empty)
    assert empty in str(error.value)
    nan = str(tmp_path / "nan.wav")
    data = np.zeros(RATE, dtype="float32")
    data[100] = np.nan
    soundfile.write(nan, data, RATE, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="NaN") as error:
        classifier.classify_file(nan)
    assert nan in str(error.value)


# ---- Prototypes you can hear ---------------------------------------------------
@pytest.mark.smoke
def test_render_prototype(classifier, tmp_path):
    path = str(tmp_path / "flute.wav")
    wav, rate = classifier.render_prototype("flute", duration_s=1.0, path=path)
    assert rate == RATE and wav.shape == (1, RATE)
    assert torch.isfinite(wav).all()
    assert float(wav.abs().max()) == pytest.approx(1.0)
    assert float(wav.std()) > 0.05
    again, _ = classifier.render_prototype(1, duration_s=1.0)
    assert torch.equal(wav, again)  # label or index, same seed: same samples
    other_seed, _ = classifier.render_prototype(1, duration_s=1.0, seed=1)
    assert not torch.equal(wav, other_seed)
    quiet, _ = classifier.render_prototype(1, duration_s=1.0, gain_db=-6.0)
    assert float(quiet.abs().max()) == pytest.approx(10 ** (-6 / 20))
    written, file_rate = soundfile.read(path)
    assert file_rate == RATE and len(written) == RATE
    assert abs(wav[0, 0]) < 1e-3 and abs(wav[0, -1]) < 1e-3  # fades in and out


def test_render_rejects_bad_arguments(classifier):
    with pytest.raises(ValueError, match="unknown label 'tuba'.*cello"):
        classifier.render_prototype("tuba")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        classifier.render_prototype(3)
    with pytest.raises(ValueError, match="gain_db"):
        classifier.render_prototype(0, gain_db=3.0)
    with pytest.raises(ValueError, match="pitch"):
        classifier.render_prototype(0, pitch=0.0)
    for bad in ({"gain_db": math.nan}, {"pitch": math.inf}, {"duration_s": math.nan}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} .*; got (nan|inf)"):
            classifier.render_prototype(0, **bad)


def test_render_with_a_nan_gain_writes_nothing(model_folder, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "speechbrain_protos", "render", model_folder]
        + ["--out", str(tmp_path / "r"), "--gain-db", "nan"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and "gain_db" in done.stderr
    assert not list((tmp_path / "r").glob("*.wav"))


def test_explain_refuses_a_long_file_before_any_work(classifier, tmp_path):
    path = str(tmp_path / "long.wav")
    soundfile.write(path, np.zeros(31 * RATE, dtype=np.float32), RATE)
    with pytest.raises(ValueError, match="lasts 31.0 s; explain shows at most 30 s"):
        classifier.explain_file(path)
    assert classifier.explain_file(path, max_seconds=40, top=1)["ranking"]


def test_reconstruct_file_by_best_and_by_chosen_prototype(classifier, speech, tmp_path):
    path = str(tmp_path / "clip.wav")
    soundfile.write(path, speech, RATE, subtype="FLOAT")
    best = classifier.reconstruct_file(path)
    errors = classifier.file_errors(path)
    assert best.prototype == int(errors.argmin())
    assert best.label == CLASSES[best.prototype]
    assert (
        best.waveform.shape == (1, len(speech)) and torch.isfinite(best.waveform).all()
    )
    n_frames = best.feats.shape[0]
    assert set(best.curves) == {
        "gain",
        "pitch",
        "low_cutoff",
        "low_slope",
        "high_cutoff",
        "high_slope",
    }
    assert all(curve.shape == (n_frames,) for curve in best.curves.values())
    # The reconstruction is the lobe's own, and its error is the file's error.
    feats = classifier.mods.compute_features(torch.from_numpy(speech)[None])
    expected = classifier.mods.model.reconstruct(feats, torch.tensor([best.prototype]))
    assert torch.allclose(best.reconstruction, expected[0], atol=1e-6)
    mse = ((best.feats - best.reconstruction) ** 2).mean()
    assert torch.allclose(mse, errors[best.prototype], rtol=1e-4)
    other = (best.prototype + 1) % 3
    transfer = classifier.reconstruct_file(path, prototype=CLASSES[other])
    assert transfer.prototype == other and transfer.label == CLASSES[other]
    assert not torch.equal(transfer.reconstruction, best.reconstruction)


def test_explain_file_ranks_prototypes(classifier, speech, tmp_path):
    path = str(tmp_path / "clip.wav")
    soundfile.write(path, speech, RATE)
    report = classifier.explain_file(path, out=str(tmp_path / "why.png"), top=3)
    assert os.path.getsize(report["figure"]) > 10000
    errors = [error for _, _, error in report["ranking"]]
    assert errors == sorted(errors) and len(errors) == 3
    assert report["ranking"][0][1] == report["prototype"]
    assert report["label"] == report["ranking"][0][0]
    assert report["reconstruction"].prototype == report["prototype"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_listen_and_explain_on_a_gpu(model_folder, classifier, speech, tmp_path):
    """render, reconstruct, explain and gallery with the model on CUDA: the
    same decisions and reconstructions as on the CPU, audio back on the CPU."""
    from speechbrain_protos.gallery import write_gallery

    gpu = PrototypeClassifier.from_hparams(
        source=model_folder, run_opts={"device": "cuda:0"}
    )
    assert gpu.mods.model.prototypes.is_cuda
    wav, rate = gpu.render_prototype("flute", duration_s=1.0)
    assert wav.device.type == "cpu" and wav.shape == (1, RATE) and rate == RATE
    assert float(wav.abs().max()) == pytest.approx(1.0)
    again, _ = gpu.render_prototype(1, duration_s=1.0)
    assert torch.allclose(wav, again, atol=1e-6)  # same seed, same device
    path = str(tmp_path / "clip.wav")
    soundfile.write(path, speech, RATE, subtype="FLOAT")
    on_gpu, on_cpu = gpu.reconstruct_file(path), classifier.reconstruct_file(path)
    assert on_gpu.prototype == on_cpu.prototype
    assert on_gpu.waveform.device.type == "cpu"
    assert on_gpu.waveform.shape == on_cpu.waveform.shape
    assert torch.isfinite(on_gpu.waveform).all()
    # cuDNN convolutions may run in TF32: close, not equal.
    assert torch.allclose(on_gpu.errors, on_cpu.errors, rtol=1e-2)
    assert torch.allclose(on_gpu.reconstruction, on_cpu.reconstruction, atol=1e-2)
    report = gpu.explain_file(path, out=str(tmp_path / "why.png"), top=3)
    assert report["prototype"] == on_cpu.prototype
    gallery = write_gallery(
        gpu, str(tmp_path / "gallery"), [(path, CLASSES[0])], seconds=0.3
    )
    assert os.path.isfile(gallery["index"]) and len(gallery["prototypes"]) == 3


# ---- Using the lobe elsewhere ---------------------------------------------------
@pytest.mark.smoke
def test_pretrained_lobe_in_another_yaml(model_folder, tmp_path):
    """The documented way: a Pretrainer with a path to model.safetensors,
    read by our hook (SpeechBrain's default one calls torch.load)."""
    text = textwrap.dedent(
        f"""
        pretrained_model: {model_folder}
        lobe: !new:speechbrain_protos.lobes.PrototypeReconstructor
            n_prototypes: 3
            n_mels: 32
            start_dim: 4
            n_pools: 2
        pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
            collect_in: {tmp_path / "collected"}
            loadables:
                lobe: !ref <lobe>
            paths:
                lobe: !ref <pretrained_model>/model.safetensors
            custom_hooks:
                lobe: !name:speechbrain_protos.model_folder.load_into
        """
    )
    hparams = load_hyperpyyaml(text)
    hparams["pretrainer"].collect_files()
    hparams["pretrainer"].load_collected()
    saved = load_weights(os.path.join(model_folder, WEIGHTS_FILE))
    for key, value in saved.items():
        assert torch.equal(hparams["lobe"].state_dict()[key], value), key


def test_swap_prototypes_between_models(tmp_path, speech):
    folder_a, model_a = make_model_folder(tmp_path / "a", seed=0)
    folder_b, _ = make_model_folder(tmp_path / "b", seed=1)
    b = PrototypeClassifier.from_hparams(source=folder_b)
    b.mods.model.load_prototypes(load_weights(os.path.join(folder_a, WEIGHTS_FILE)))
    assert torch.equal(b.mods.model.prototypes, model_a.prototypes)
    assert torch.equal(b.mods.model.typical_gain, model_a.typical_gain)
    with pytest.raises(ValueError, match="same number of prototypes"):
        b.mods.model.load_prototypes(
            PrototypeReconstructor(4, n_mels=32, start_dim=4, n_pools=2)
        )


def test_cli_render_reconstruct_explain(model_folder, speech, tmp_path):
    path = str(tmp_path / "clip.wav")
    soundfile.write(path, speech, RATE)

    def cli(*args):
        out = subprocess.run(
            [sys.executable, "-m", "speechbrain_protos", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()

    rendered = cli("render", model_folder, "--out", tmp_path / "r", "--duration", 0.5)
    assert [os.path.basename(p) for p in rendered] == [
        "00_cello.wav",
        "01_flute.wav",
        "02_oboe.wav",
    ]
    assert soundfile.info(rendered[0]).duration == pytest.approx(0.5)
    line = cli(
        "reconstruct",
        model_folder,
        path,
        "--prototype",
        "oboe",
        "--out",
        tmp_path / "t.wav",
    )
    assert line[0].endswith("prototype 2\toboe")
    assert soundfile.info(str(tmp_path / "t.wav")).frames == len(speech)
    lines = cli("explain", model_folder, path, "--out", tmp_path / "e.png", "--top", 2)
    assert lines[0] == str(tmp_path / "e.png") and len(lines) == 3
    for command in (
        "export",
        "classify",
        "render",
        "reconstruct",
        "explain",
        "gallery",
    ):
        assert "usage" in "\n".join(cli(command, "--help"))
