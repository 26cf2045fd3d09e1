"""Reading audio files for inference: checked, mono, resampled, in chunks.

Any file that soundfile reads (WAV of any bit depth, FLAC, OGG, ...) at any
sample rate and channel count comes out as mono float32 at the model's rate.
Long files are read a chunk at a time, so memory does not grow with the
file. Every failure, including libsndfile's while decoding (a stream cut
short), is an :class:`AudioFileError` that names the file and says what was
expected.

Authors
 * speechbrain-protos developers 2026
"""

import math
import os

import soundfile
import torch
import torchaudio

DEFAULT_CHUNK_SECONDS = 30.0


class AudioFileError(ValueError):
    """An audio file that cannot be used: empty, too short, unreadable,
    damaged or not finite."""


def _unreadable(path, error):
    return AudioFileError(
        f"cannot read {path} as audio (expected WAV, FLAC, OGG or another "
        f"format libsndfile reads, whole): {error}"
    )


def audio_info(path):
    """Checks that ``path`` is a readable, non-empty audio file.

    Arguments
    ---------
    path : str
        Audio file.

    Returns
    -------
    soundfile._SoundFileInfo
        Its sample rate, channels and number of frames.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "empty.wav")
    >>> soundfile.write(path, torch.zeros(0).numpy(), 16000)
    >>> audio_info(path)
    Traceback (most recent call last):
    ...
    speechbrain_protos.audio.AudioFileError: audio file ... has no samples
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"audio file {path} does not exist")
    if os.path.isdir(path):
        raise AudioFileError(f"{path} is a folder; expected an audio file")
    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise _unreadable(path, error) from error
    if info.frames <= 0:
        raise AudioFileError(f"audio file {path} has no samples")
    return info


def chunk_bounds(n_samples, chunk_samples, min_samples):
    """Splits ``[0, n_samples)`` into chunks; a too-short tail joins the last.

    Example
    -------
    >>> chunk_bounds(25, 10, 4)
    [(0, 10), (10, 20), (20, 25)]
    >>> chunk_bounds(22, 10, 4)
    [(0, 10), (10, 22)]
    """
    starts = list(range(0, n_samples, chunk_samples))
    bounds = [(start, min(start + chunk_samples, n_samples)) for start in starts]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_samples:
        bounds[-2:] = [(bounds[-2][0], n_samples)]
    return bounds


def read_chunks(path, sample_rate, chunk_seconds=DEFAULT_CHUNK_SECONDS, min_samples=1):
    """Yields a file as mono float32 chunks ``[samples]`` at ``sample_rate``.

    A file no longer than ``chunk_seconds`` comes as one chunk, read exactly
    as training reads it. A file shorter than ``min_samples`` (at the target
    rate) is refused: the front end cannot frame it, and padding it with
    silence would classify mostly silence.

    Arguments
    ---------
    path : str
        Audio file.
    sample_rate : int
        Rate to return (the file is resampled when it differs).
    chunk_seconds : float
        Most seconds per chunk.
    min_samples : int
        Shortest file and chunk (the front end's minimum).

    Yields
    ------
    torch.Tensor
        ``[samples]`` float32 waveform chunks.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "stereo.wav")
    >>> soundfile.write(path, torch.rand(24000, 2).numpy() - 0.5, 8000)
    >>> [c.shape[0] for c in read_chunks(path, 16000, chunk_seconds=2.0)]
    [32000, 16000]
    """
    info = audio_info(path)
    if chunk_seconds <= 0:
        raise ValueError(f"chunk_seconds must be positive; got {chunk_seconds}")
    if math.isinf(chunk_seconds):
        chunk = info.frames
    else:
        chunk = max(1, int(round(chunk_seconds * info.samplerate)))
    min_file_samples = math.ceil(min_samples * info.samplerate / sample_rate)
    if info.frames < min_file_samples:
        raise AudioFileError(
            f"audio file {path} is {info.frames} samples long at "
            f"{info.samplerate} Hz ({1e3 * info.frames / info.samplerate:.1f} ms); "
            f"the model needs at least {min_file_samples} "
            f"({1e3 * min_samples / sample_rate:.1f} ms, half an analysis frame)"
        )
    try:
        yield from _decode(path, info, chunk, min_file_samples, sample_rate)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise _unreadable(path, error) from error


def _decode(path, info, chunk, min_file_samples, sample_rate):
    """The chunks of :func:`read_chunks`, decoded."""
    with soundfile.SoundFile(path) as audio:
        for start, stop in chunk_bounds(info.frames, chunk, min_file_samples):
            audio.seek(start)
            data = audio.read(stop - start, dtype="float32", always_2d=True)
            if data.shape[0] < stop - start:
                raise AudioFileError(
                    f"audio file {path} ends after {start + data.shape[0]} of the "
                    f"{info.frames} samples its header announces (cut short?)"
                )
            signal = torch.from_numpy(data)
            signal = signal[:, 0] if signal.shape[1] == 1 else signal.mean(dim=1)
            if not torch.isfinite(signal).all():
                raise AudioFileError(
                    f"audio file {path} contains NaN or infinite samples "
                    f"(in samples {start} to {stop})"
                )
            if info.samplerate != sample_rate:
                signal = torchaudio.functional.resample(
                    signal, info.samplerate, sample_rate
                )
            yield signal


def read_audio(path, sample_rate, min_samples=1):
    """A whole file as one mono float32 waveform at ``sample_rate``.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "short.flac")
    >>> soundfile.write(path, torch.rand(400).numpy() - 0.5, 16000)
    >>> read_audio(path, 16000, min_samples=257).shape
    torch.Size([400])
    >>> read_audio(path, 16000, min_samples=513)
    Traceback (most recent call last):
    ...
    speechbrain_protos.audio.AudioFileError: audio file ... is 400 samples long ...
    """
    return torch.cat(
        list(read_chunks(path, sample_rate, math.inf, min_samples=min_samples))
    )
