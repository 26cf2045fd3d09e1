"""Reading clips and cutting training crops from waveforms.

Audio is downmixed to mono and resampled to the model's rate on reading;
short clips are looped to the crop length, as the authors' code does.

Authors
 * speechbrain-protos developers 2026
"""

import speechbrain as sb
import torch
import torchaudio


def read_clip(path, start, stop, file_rate, target_rate):
    """Reads samples ``[start, stop)`` of a file as mono at ``target_rate``.

    Arguments
    ---------
    path : str
        Audio file.
    start, stop : int
        Sample range in the file.
    file_rate : int
        The file's sample rate.
    target_rate : int
        Rate to return.

    Returns
    -------
    torch.Tensor
        ``[samples]`` float waveform.

    Example
    -------
    >>> import soundfile
    >>> path = str(getfixture("tmpdir") / "stereo.wav")
    >>> soundfile.write(path, torch.rand(800, 2).numpy() - 0.5, 8000)
    >>> read_clip(path, 0, 800, 8000, 16000).shape
    torch.Size([1600])
    """
    signal = sb.dataio.dataio.read_audio({"file": path, "start": start, "stop": stop})
    if signal.dim() == 2:
        signal = signal.mean(dim=1)
    if file_rate != target_rate:
        signal = torchaudio.functional.resample(signal, file_rate, target_rate)
    return signal


def loop_to_length(signal, n_samples):
    """The signal repeated and cut to exactly ``n_samples`` samples.

    Example
    -------
    >>> loop_to_length(torch.arange(3.0), 7)
    tensor([0., 1., 2., 0., 1., 2., 0.])
    """
    repeats = -(-n_samples // signal.numel())
    return signal.repeat(repeats)[:n_samples]


def random_crop(signal, n_samples):
    """A random window of ``n_samples``; shorter signals are looped first.

    Example
    -------
    >>> random_crop(torch.arange(3.0), 7)
    tensor([0., 1., 2., 0., 1., 2., 0.])
    >>> random_crop(torch.arange(10.0), 4).shape
    torch.Size([4])
    """
    if signal.numel() < n_samples:
        return loop_to_length(signal, n_samples)
    offset = int(torch.randint(signal.numel() - n_samples + 1, (1,)))
    return signal[offset : offset + n_samples]


def crop_samples(n_frames, hop_length):
    """Samples that give exactly ``n_frames`` centred frames.

    Example
    -------
    >>> crop_samples(256, 512)
    130560
    """
    return (n_frames - 1) * hop_length
