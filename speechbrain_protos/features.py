"""Log-mel front end with the paper's normalisation, and its inverse to audio.

The features are the power mel spectrogram of torchaudio's ``Spectrogram`` and
``MelScale`` (periodic Hann window, centred frames with reflect padding, HTK
mel scale, unnormalised triangles), compressed as in the paper's code::

    x = (log10(S + 1e-10) + 10) / 17

Digital silence maps to 0. For waveforms in [-1, 1] and ``n_fft <= 4096``
Parseval's bound keeps S below 1e7, so every feature lies in [0, 1).

The inverse undoes the compression, inverts the mel filterbank with
non-negative multiplicative updates, and recovers a phase with Griffin-Lim
(with momentum), seeded so that a given input always gives the same audio.

Authors
 * speechbrain-protos developers 2026
"""

import math

import torch
import torchaudio

from speechbrain_protos.lengths import check_relative_lengths, reflect_indices

LOG10_FLOOR = 1e-10  # power added before log10: silence maps to 0
LOG10_OFFSET = 10.0  # -log10(LOG10_FLOOR)
LOG10_SCALE = 17.0  # decades of power per normalised unit (170 dB)
HTK_MEL_FACTOR = 2595.0  # A in mel = A log10(1 + f / 700)


def hz_to_mel(frequency):
    """HTK mel value of a frequency in Hz: 2595 log10(1 + f / 700).

    Arguments
    ---------
    frequency : float or torch.Tensor
        Frequency in Hz.

    Returns
    -------
    float or torch.Tensor
        The same frequency in mel.

    Example
    -------
    >>> round(hz_to_mel(700.0), 3)
    781.173
    """
    if torch.is_tensor(frequency):
        return HTK_MEL_FACTOR * torch.log10(1.0 + frequency / 700.0)
    return HTK_MEL_FACTOR * math.log10(1.0 + frequency / 700.0)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel` (HTK).

    Example
    -------
    >>> round(float(mel_to_hz(hz_to_mel(440.0))), 6)
    440.0
    """
    return 700.0 * (10.0 ** (mel / HTK_MEL_FACTOR) - 1.0)


def mel_bin_centers(n_mels, sample_rate, f_min=0.0, f_max=None):
    """Centre of each mel triangle of torchaudio's ``MelScale``, in mel.

    torchaudio spaces ``n_mels + 2`` points evenly between ``mel(f_min)`` and
    ``mel(f_max)``; triangle i peaks at point i + 1. The result is evenly
    spaced, which the pitch shift relies on.

    Arguments
    ---------
    n_mels : int
        Number of mel bins.
    sample_rate : int
        Sample rate in Hz; ``f_max`` defaults to its half.
    f_min : float
        Lowest frequency of the filterbank, in Hz.
    f_max : float, optional
        Highest frequency of the filterbank, in Hz.

    Returns
    -------
    torch.Tensor
        Float64 tensor ``[n_mels]`` of centre frequencies in mel.

    Example
    -------
    >>> centers = mel_bin_centers(128, 16000)
    >>> centers.shape, round(centers[-1].item(), 1)
    (torch.Size([128]), 2818.0)
    """
    f_max = sample_rate / 2.0 if f_max is None else f_max
    points = torch.linspace(
        hz_to_mel(float(f_min)),
        hz_to_mel(float(f_max)),
        n_mels + 2,
        dtype=torch.float64,
    )
    return points[1:-1]


def compress(power):
    """Normalised log compression of a power spectrogram (the paper's x).

    Arguments
    ---------
    power : torch.Tensor
        Non-negative power values.

    Returns
    -------
    torch.Tensor
        ``(log10(power + 1e-10) + 10) / 17``.

    Example
    -------
    >>> compress(torch.tensor([0.0, 1e7]))
    tensor([0., 1.])
    """
    return (torch.log10(power + LOG10_FLOOR) + LOG10_OFFSET) / LOG10_SCALE


def expand(features):
    """Inverse of :func:`compress`: back to non-negative power.

    Arguments
    ---------
    features : torch.Tensor
        Normalised log-mel values.

    Returns
    -------
    torch.Tensor
        ``max(10 ** (17 x - 10) - 1e-10, 0)``.

    Example
    -------
    >>> expand(torch.tensor([0.0, 1.0]))
    tensor([       0., 10000000.])
    """
    power = torch.pow(10.0, LOG10_SCALE * features - LOG10_OFFSET)
    return (power - LOG10_FLOOR).clamp_min(0.0)


def invert_mel_filterbank(mel_power, filterbank, n_iter=200):
    """Non-negative linear power spectrum whose mel projection is ``mel_power``.

    The mel projection has far fewer rows than unknowns, so many spectra fit.
    This starts from the flattest one (every STFT bin gets the mean power of
    the bands that cover it) and refines it with multiplicative updates that
    minimise the generalised KL divergence (Richardson-Lucy). Those updates
    keep every value non-negative and correct each band by its *ratio* of
    target to current power, so quiet bands converge as fast as loud ones:
    what matters on a log scale. (torchaudio's ``InverseMelScale`` solves
    least squares and clips negatives, which favours the loud bands.)

    Arguments
    ---------
    mel_power : torch.Tensor
        Mel power spectrogram ``[..., n_mels, T]``.
    filterbank : torch.Tensor
        ``[n_stft, n_mels]`` matrix, as ``torchaudio.transforms.MelScale.fb``.
    n_iter : int
        Number of multiplicative updates.

    Returns
    -------
    torch.Tensor
        Linear power spectrogram ``[..., n_stft, T]``, in float64.

    Example
    -------
    >>> mel = torchaudio.transforms.MelScale(16, 8000, n_stft=129)
    >>> power = torch.rand(129, 5)
    >>> estimate = invert_mel_filterbank(mel(power), mel.fb)
    >>> error = (mel(estimate.float()) - mel(power)).abs() / mel(power)
    >>> bool(error.max() < 1e-3)
    True
    """
    fb = filterbank.to(torch.float64)
    target = mel_power.to(torch.float64)
    band_area = fb.sum(dim=0)  # [n_mels]
    bin_cover = fb.sum(dim=1)  # [n_stft]
    covered = bin_cover > 0
    safe_cover = torch.where(covered, bin_cover, torch.ones_like(bin_cover))
    tiny = torch.finfo(torch.float64).tiny
    estimate = fb @ (target / band_area[:, None]) / safe_cover[:, None]
    for _ in range(n_iter):
        projected = fb.transpose(0, 1) @ estimate
        ratio = torch.where(projected > tiny, target / projected.clamp_min(tiny), 0.0)
        estimate = estimate * (fb @ ratio) / safe_cover[:, None]
    return estimate * covered[:, None]


def check_waveforms(wavs):
    """Validates a waveform batch and returns it as ``[B, N]``.

    Arguments
    ---------
    wavs : torch.Tensor
        ``[B, N]`` batch or a single ``[N]`` waveform.

    Returns
    -------
    torch.Tensor
        The batch, shape ``[B, N]``.

    Raises
    ------
    ValueError
        For a non-tensor, wrong number of dimensions, an empty batch or
        waveform, or a NaN or infinite sample.

    Example
    -------
    >>> check_waveforms(torch.zeros(3)).shape
    torch.Size([1, 3])
    >>> check_waveforms(torch.tensor([0.0, float("nan")]))
    Traceback (most recent call last):
    ...
    ValueError: waveform batch has a NaN or infinite sample (item 0, sample 1)
    """
    if not torch.is_tensor(wavs):
        raise ValueError(
            f"expected the waveforms as a torch.Tensor; got {type(wavs).__name__}"
        )
    if wavs.dim() == 1:
        wavs = wavs.unsqueeze(0)
    if wavs.dim() != 2:
        raise ValueError(
            "expected waveforms of shape [batch, samples] or [samples]; got "
            f"shape {list(wavs.shape)} (downmix channels before the front end)"
        )
    if wavs.shape[0] == 0 or wavs.shape[1] == 0:
        raise ValueError(
            f"waveform batch is empty: shape {list(wavs.shape)} "
            "(expected at least one item with at least one sample)"
        )
    if not wavs.is_floating_point():
        raise ValueError(f"expected floating-point samples; got {wavs.dtype}")
    finite = torch.isfinite(wavs)
    if not finite.all():
        item, sample = (~finite).nonzero()[0].tolist()
        raise ValueError(
            "waveform batch has a NaN or infinite sample "
            f"(item {item}, sample {sample})"
        )
    return wavs


class LogMel(torch.nn.Module):
    """Normalised log-mel features in [0, 1] and their inverse to audio.

    Arguments
    ---------
    sample_rate : int
        Rate the features are computed at; other rates are resampled.
    n_fft : int
        FFT size (also the window length). SOL: 2048; LibriSpeech: 1024.
    hop_length : int
        Hop between frames in samples (512 for both datasets).
    n_mels : int
        Number of mel bins.
    f_min : float
        Lowest filterbank frequency in Hz.
    f_max : float, optional
        Highest filterbank frequency in Hz (default: Nyquist).
    inversion_iterations : int
        Multiplicative updates of the mel inversion in :meth:`inverse`.
    griffin_lim_iterations : int
        Griffin-Lim iterations in :meth:`inverse`.
    griffin_lim_momentum : float
        Momentum of the fast Griffin-Lim, in [0, 1).

    Example
    -------
    >>> logmel = LogMel(sample_rate=16000, n_fft=1024, hop_length=512)
    >>> feats = logmel(torch.rand(2, 16000) - 0.5, torch.tensor([1.0, 0.5]))
    >>> feats.shape
    torch.Size([2, 32, 128])
    >>> bool(feats.min() >= 0 and feats.max() < 1)
    True
    >>> logmel.inverse(feats[:, :4]).shape
    torch.Size([2, 1536])
    """

    def __init__(
        self,
        sample_rate=16000,
        n_fft=1024,
        hop_length=512,
        n_mels=128,
        f_min=0.0,
        f_max=None,
        inversion_iterations=200,
        griffin_lim_iterations=64,
        griffin_lim_momentum=0.99,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.f_min = f_min
        self.f_max = f_max
        self.inversion_iterations = inversion_iterations
        self.griffin_lim_iterations = griffin_lim_iterations
        self.griffin_lim_momentum = griffin_lim_momentum
        self.spectrogram = torchaudio.transforms.Spectrogram(
            n_fft=n_fft, hop_length=hop_length, power=2.0
        )
        self.mel_scale = torchaudio.transforms.MelScale(
            n_mels=n_mels,
            sample_rate=sample_rate,
            f_min=f_min,
            f_max=f_max,
            n_stft=n_fft // 2 + 1,
            norm=None,
            mel_scale="htk",
        )

    @property
    def config(self):
        """Constructor arguments, as an inference YAML writes them back.

        Example
        -------
        >>> LogMel(n_mels=32).config["n_mels"]
        32
        """
        return {
            name: getattr(self, name)
            for name in (
                "sample_rate",
                "n_fft",
                "hop_length",
                "n_mels",
                "f_min",
                "f_max",
                "inversion_iterations",
                "griffin_lim_iterations",
                "griffin_lim_momentum",
            )
        }

    def bin_centers(self):
        """Centre of each mel bin, in mel (see :func:`mel_bin_centers`)."""
        return mel_bin_centers(self.n_mels, self.sample_rate, self.f_min, self.f_max)

    def bin_frequencies(self):
        """Centre of each mel bin, in Hz."""
        return mel_to_hz(self.bin_centers())

    def n_frames(self, n_samples):
        """Number of frames for a waveform of ``n_samples`` samples.

        Arguments
        ---------
        n_samples : int
            Waveform length at the front end's sample rate.

        Returns
        -------
        int
            ``1 + n_samples // hop_length`` (frames are centred).

        Example
        -------
        >>> LogMel(hop_length=512).n_frames(16000)
        32
        """
        return 1 + n_samples // self.hop_length

    def forward(self, wavs, lengths=None, sample_rate=None):
        """Computes normalised log-mel features.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms ``[B, N]`` (or one ``[N]``), samples in [-1, 1].
        lengths : torch.Tensor, optional
            Relative lengths ``[B]`` in (0, 1]. Each clip's frames are then
            those of the clip alone: the centred frames at its end read the
            clip's own reflection, not the batch's padding. The frames' own
            relative lengths are :meth:`frame_lengths`.
        sample_rate : int, optional
            Rate of ``wavs``; resampled to ``self.sample_rate`` when it
            differs. Default: already at ``self.sample_rate``.

        Returns
        -------
        torch.Tensor
            Features ``[B, T, n_mels]`` with ``T = 1 + N' // hop_length``.
        """
        wavs = check_waveforms(wavs)
        check_relative_lengths(lengths, wavs.shape[0])
        dtype = self.spectrogram.window.dtype
        wavs = wavs.to(dtype)
        if sample_rate is not None and sample_rate != self.sample_rate:
            wavs = torchaudio.functional.resample(
                wavs, int(sample_rate), int(self.sample_rate)
            )
        min_samples = self.n_fft // 2 + 1
        if wavs.shape[1] < min_samples:
            raise ValueError(
                f"waveforms of {wavs.shape[1]} samples are too short: the "
                f"front end needs at least {min_samples} samples "
                f"(n_fft // 2 + 1 at {self.sample_rate} Hz)"
            )
        n_frames = self.n_frames(wavs.shape[1])
        first = 0
        if lengths is not None:
            wavs, first = self._reflect_each_clip(wavs, lengths)
        # Features stay in full precision under mixed precision (autocast
        # would run the mel projection in bf16/fp16).
        with torch.autocast(wavs.device.type, enabled=False):
            power = self.mel_scale(self.spectrogram(wavs))  # [B, F, T]
            return compress(power[..., first : first + n_frames]).transpose(1, 2)

    def _reflect_each_clip(self, wavs, lengths):
        """Extends each clip by its own reflection before the centred STFT.

        Both ends are padded by a whole number of hops of at least
        ``n_fft // 2`` samples, so the STFT's own centre padding is never
        read by the frames kept; returns the padded waveforms and the index
        of the frame centred on each clip's first sample.
        """
        samples = torch.round(lengths.to(wavs.device).float() * wavs.shape[1])
        samples = samples.long().clamp(1, wavs.shape[1])
        hops = -(-(self.n_fft // 2) // self.hop_length)
        pad = hops * self.hop_length
        index = reflect_indices(samples, wavs.shape[1] + 2 * pad, offset=pad)
        return wavs.gather(1, index), hops

    def frame_lengths(self, lengths, n_samples):
        """Relative lengths of the frames of clips with relative lengths
        ``lengths`` of ``n_samples``: each clip's own ``1 + n // hop`` frames
        out of the batch's, so masks keep exactly the frames the clip has
        alone.

        Example
        -------
        >>> LogMel(hop_length=512).frame_lengths(torch.tensor([1.0, 0.3]), 16000)
        tensor([1.0000, 0.3125])
        """
        lengths = check_relative_lengths(lengths, lengths.shape[0])
        samples = torch.round(lengths * n_samples).long().clamp(1, n_samples)
        return (1 + samples // self.hop_length).float() / self.n_frames(n_samples)

    @torch.no_grad()
    def inverse(self, feats, n_samples=None, seed=0):
        """Turns normalised log-mel features back into a waveform.

        Undo the compression, invert the mel filterbank with non-negative
        updates (:func:`invert_mel_filterbank`), then run Griffin-Lim with
        momentum from a random phase drawn with ``seed``: the same features
        and seed always give the same samples on a given device (the phase
        comes from that device's generator).

        The work runs where the front end lives (a GPU for a model on one);
        ``feats`` may be on any device and the waveforms come back on it.

        Arguments
        ---------
        feats : torch.Tensor
            ``[B, T, n_mels]`` or ``[T, n_mels]`` features.
        n_samples : int, optional
            Length of the output; default ``hop_length * (T - 1)``.
        seed : int
            Seed of the initial phase.

        Returns
        -------
        torch.Tensor
            Waveforms ``[B, n_samples]`` (``[n_samples]`` for a 2-D input)
            at ``self.sample_rate``.
        """
        single = feats.dim() == 2
        if single:
            feats = feats.unsqueeze(0)
        if feats.dim() != 3 or feats.shape[-1] != self.n_mels:
            raise ValueError(
                f"expected features [batch, frames, {self.n_mels}]; got shape "
                f"{list(feats.shape)}"
            )
        if not torch.isfinite(feats).all():
            raise ValueError("features to invert contain NaN or inf values")
        filterbank = self.mel_scale.fb
        mel_power = expand(feats.transpose(1, 2).to(filterbank.device, torch.float64))
        linear_power = invert_mel_filterbank(
            mel_power, filterbank, self.inversion_iterations
        )
        window = self.spectrogram.window.to(torch.float64)
        rng_devices = [linear_power.device] if linear_power.is_cuda else []
        with torch.random.fork_rng(devices=rng_devices):
            torch.manual_seed(seed)
            wavs = torchaudio.functional.griffinlim(
                linear_power,
                window=window,
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                win_length=self.n_fft,
                power=2.0,
                n_iter=self.griffin_lim_iterations,
                momentum=self.griffin_lim_momentum,
                length=n_samples,
                rand_init=True,
            )
        wavs = wavs.to(feats.device, self.spectrogram.window.dtype)
        return wavs[0] if single else wavs
