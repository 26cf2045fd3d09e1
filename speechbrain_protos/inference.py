"""A pretrained playable-prototype model: classify, listen, explain.

:class:`PrototypeClassifier` loads a model folder written by
:mod:`speechbrain_protos.export` the SpeechBrain way,
``PrototypeClassifier.from_hparams(source=<folder>)``, offline. It keeps
:class:`speechbrain.inference.classifiers.EncoderClassifier`'s methods and
return shapes (``classify_file``, ``classify_batch``, ``encode_batch``), so
code written for a SpeechBrain classifier runs unchanged, and adds what only
a prototype model can do: play its prototypes (:meth:`render_prototype`),
reconstruct a sound with any prototype (:meth:`reconstruct_file`, timbre
transfer included), and show how it reached a decision
(:meth:`explain_file`).

Authors
 * speechbrain-protos developers 2026
"""

import logging
import math
import os
from typing import NamedTuple

import soundfile
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.inference.interfaces import Pretrained
from torch.nn.functional import pad as nn_pad

from speechbrain_protos.audio import (
    DEFAULT_CHUNK_SECONDS,
    AudioFileError,
    audio_info,
    read_audio,
    read_chunks,
)
from speechbrain_protos.model_folder import (
    HPARAMS_FILE,
    ModelFolderError,
    check_model_folder,
    check_state_dict,
    load_labels,
    load_weights,
)
from speechbrain_protos.reconstruction import reconstruct_chosen

logger = logging.getLogger(__name__)

ATTACK_SECONDS = 0.02  # rendered prototypes fade in over 20 ms
RELEASE_SECONDS = 0.25  # ... and out over 250 ms
# Rendering drops mel bands centred below hearing: nobody hears them at
# pitch 1, and a pitch shift would move them (DC included) into hearing.
INFRASOUND_HZ = 20.0
UNASSIGNED = -1  # class of a cluster no training clip chose
EXPLAIN_MAX_SECONDS = 30.0  # longest file explain_file draws


class FileResult(NamedTuple):
    """One file's classification (see :meth:`PrototypeClassifier.classify_files`):
    the label, its probability, its class index and every class's
    probability, or, for a file that could not be classified, why."""

    path: str
    label: str = None
    score: float = None
    index: int = None
    probabilities: dict = None  # class name -> probability
    error: str = None  # why the file could not be classified


class Reconstruction(NamedTuple):
    """A clip rebuilt from one prototype (see
    :meth:`PrototypeClassifier.reconstruct_file`); every tensor on the CPU."""

    waveform: torch.Tensor  # [1, samples] at sample_rate
    sample_rate: int
    prototype: int  # index of the prototype used
    label: str  # its class
    errors: torch.Tensor  # [K] the clip's error for every prototype
    feats: torch.Tensor  # [T, F] normalised log-mel of the input
    reconstruction: torch.Tensor  # [T, F] the prototype, transformed
    curves: dict  # name -> [T]: gain, pitch, low/high cutoff and slope


def check_device(device):
    """Raises a clear error for a device torch cannot use here.

    Example
    -------
    >>> check_device("cpu")
    >>> check_device("tpu")
    Traceback (most recent call last):
    ...
    ValueError: device 'tpu' is not one torch knows ...
    """
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device {device!r} is not one torch knows (cpu, cuda, cuda:0, ...)"
        ) from error
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} asked for, but torch sees no CUDA device here "
            f"(torch {torch.__version__}); use --device cpu"
        )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} asked for, but MPS is not available")


def envelope(n_samples, sample_rate, attack=ATTACK_SECONDS, release=RELEASE_SECONDS):
    """Raised-cosine fade in and out, ``[n_samples]``.

    Example
    -------
    >>> env = envelope(1000, 1000, attack=0.1, release=0.2)
    >>> float(env[0]), float(env[500]), float(env[-1])
    (0.0, 1.0, 0.0)
    """

    def rise(seconds):
        width = min(int(seconds * sample_rate), n_samples // 2)
        return 0.5 - 0.5 * torch.cos(torch.linspace(0, math.pi, width))

    env = torch.ones(n_samples)
    attack_ramp, release_ramp = rise(attack), rise(release)
    env[: attack_ramp.numel()] = attack_ramp
    if release_ramp.numel():
        env[-release_ramp.numel() :] *= release_ramp.flip(0)
    return env


class PrototypeClassifier(Pretrained):
    """Playable-prototype classifier with SpeechBrain's classifier interface.

    Load it with :meth:`from_hparams`. Modules: ``compute_features``
    (:class:`~speechbrain_protos.features.LogMel`) and ``model``
    (:class:`~speechbrain_protos.lobes.PrototypeReconstructor`); hparams:
    ``label_encoder``, ``prototype_classes`` and ``sample_rate``.

    The probability of a class is the paper's softmax(-beta * L_rec) over
    prototypes, summed over the prototypes of that class (one per class in
    supervised mode). The predicted class is that of the prototype with the
    lowest error (eq. 6); clusters no training clip chose are never picked.

    Example
    -------
    >>> from speechbrain_protos.model_folder import model_config, write_model_folder
    >>> from speechbrain_protos.features import LogMel
    >>> from speechbrain_protos.lobes import PrototypeReconstructor
    >>> logmel = LogMel(n_fft=512, hop_length=256, n_mels=32)
    >>> protos = PrototypeReconstructor(3, n_mels=32, start_dim=4, n_pools=2)
    >>> folder = write_model_folder(str(getfixture("tmpdir") / "model"),
    ...     model_config(logmel, protos, ["cello", "flute", "oboe"]),
    ...     protos.state_dict())
    >>> model = PrototypeClassifier.from_hparams(source=folder)
    >>> out_prob, score, index, text_lab = model.classify_batch(torch.rand(2, 8000))
    >>> out_prob.shape, score.shape, index.shape, len(text_lab)
    (torch.Size([2, 3]), torch.Size([2]), torch.Size([2]), 2)
    >>> model.encode_batch(torch.rand(2, 8000)).shape  # errors [B, 1, K]
    torch.Size([2, 1, 3])
    >>> wav, rate = model.render_prototype(0, duration_s=0.5)
    >>> wav.shape, rate
    (torch.Size([1, 8000]), 16000)
    """

    HPARAMS_NEEDED = ["label_encoder", "prototype_classes", "sample_rate"]
    MODULES_NEEDED = ["compute_features", "model"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        missing = [name for name in self.MODULES_NEEDED if name not in self.mods]
        if missing:
            raise ModelFolderError(
                f"hyperparams.yaml declares no {', '.join(missing)} under modules"
            )
        model = self.mods.model
        classes = torch.as_tensor(self.hparams.prototype_classes, dtype=torch.long)
        n_classes = len(self.hparams.label_encoder)
        if (
            classes.shape != (model.n_prototypes,)
            or ((classes < UNASSIGNED) | (classes >= n_classes)).any()
        ):
            raise ModelFolderError(
                f"prototype_classes must give a class in [-1, {n_classes}) for "
                f"each of the {model.n_prototypes} prototypes; got "
                f"{classes.tolist()}"
            )
        if (classes == UNASSIGNED).all():
            raise ModelFolderError("no prototype has a class (prototype_classes)")
        self.hparams.label_encoder.expect_len(n_classes)
        self.prototype_classes = classes.to(self.device)
        self.class_names = [
            self.hparams.label_encoder.ind2lab[index] for index in range(n_classes)
        ]

    # ------------------------------------------------------------------
    # Loading
    # ------------------------------------------------------------------
    @classmethod
    def from_hparams(cls, source, hparams_file=HPARAMS_FILE, **kwargs):
        """Loads a model folder: offline, strictly, and without running
        anything written in it.

        The folder is read in place (:mod:`speechbrain_protos.model_folder`):
        its YAML may build only this package's inference objects, its
        weights must be tensors, all finite, one for every parameter of the
        model and of the right shape, and its labels must cover every
        prototype's class.

        Arguments
        ---------
        source : str
            A local model folder. Never looked up on a hub: download a Hub
            repository first (``huggingface_hub.snapshot_download``).
        hparams_file : str
            The inference YAML in it.
        **kwargs
            ``run_opts`` (e.g. ``{"device": "cuda:0"}``), ``overrides``
            (of the YAML) and ``freeze_params``, as for SpeechBrain's
            ``from_hparams``. ``savedir`` is accepted for compatibility and
            not used: nothing is copied, so processes that share a
            ``savedir`` cannot see each other's files.

        Returns
        -------
        PrototypeClassifier
            The model, in eval mode.

        Raises
        ------
        ModelFolderError
            If the folder is incomplete, damaged or its files disagree.
        UnsafeYamlError
            If the YAML asks HyperPyYAML for anything but this package's
            inference objects (:mod:`speechbrain_protos.yaml_guard`).
        """
        overrides = kwargs.pop("overrides", {})
        run_opts = kwargs.pop("run_opts", None) or {}
        freeze_params = kwargs.pop("freeze_params", True)
        for ignored in (
            "savedir",
            "fetch_config",
            "local_strategy",
            "huggingface_cache_dir",
        ):
            if kwargs.pop(ignored, None) is not None:
                logger.debug("%s is not used: model folders are read in place", ignored)
        if kwargs:
            raise TypeError(
                f"from_hparams got unexpected arguments: {', '.join(kwargs)}"
            )
        check_device(run_opts.get("device", "cpu"))
        files = check_model_folder(source, hparams_file)
        state = load_weights(files.weights)
        class_names = load_labels(files.labels)
        with open(files.hparams, encoding="utf-8") as fin:
            hparams = load_hyperpyyaml(fin, overrides)
        model = hparams.get("modules", {}).get("model")
        if model is not None:
            check_state_dict(model, state, files.weights)
            model.load_state_dict(state, strict=True)
        encoder = hparams.get("label_encoder")
        if encoder is not None:
            encoder.update_from_iterable(class_names)
        hparams["savedir"] = files.folder
        return cls(
            modules=hparams.get("modules"),
            hparams=hparams,
            run_opts=run_opts,
            freeze_params=freeze_params,
        )

    # ------------------------------------------------------------------
    # EncoderClassifier's interface
    # ------------------------------------------------------------------
    @property
    def n_prototypes(self):
        """Number of prototypes K."""
        return self.mods.model.n_prototypes

    @property
    def sample_rate(self):
        """Rate the model works at (inputs are resampled to it)."""
        return int(self.hparams.sample_rate)

    def min_samples(self):
        """Shortest waveform the front end takes; shorter ones are padded."""
        return self.mods.compute_features.n_fft // 2 + 1

    def features(self, wavs, wav_lens=None):
        """Log-mel features of waveforms and their relative frame lengths.

        What the model (and ``model.onnx``) takes: each clip's frames are
        those it has alone (see :meth:`LogMel.frame_lengths
        <speechbrain_protos.features.LogMel.frame_lengths>`).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[B, samples]`` (or ``[samples]``) at the model's rate.
        wav_lens : torch.Tensor, optional
            Relative lengths ``[B]``.

        Returns
        -------
        feats : torch.Tensor
            ``[B, T, n_mels]`` on the model's device.
        lengths : torch.Tensor
            ``[B]`` relative frame lengths.
        """
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0], device=self.device)
        wavs = wavs.to(self.device).float()
        wav_lens = wav_lens.to(self.device)
        if wavs.shape[1] < self.min_samples():
            padded = self.min_samples()
            wav_lens = wav_lens * wavs.shape[1] / padded
            wavs = nn_pad(wavs, (0, padded - wavs.shape[1]))
        logmel = self.mods.compute_features
        feats = logmel(wavs, wav_lens)
        return feats, logmel.frame_lengths(wav_lens, wavs.shape[1])

    @torch.no_grad()
    def encode_batch(self, wavs, wav_lens=None, normalize=False):
        """Reconstruction error of every clip by every prototype.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[B, samples]`` (or ``[samples]``) waveforms at the model's rate.
        wav_lens : torch.Tensor, optional
            Relative lengths ``[B]``.
        normalize : bool
            Not supported (kept for EncoderClassifier's signature).

        Returns
        -------
        torch.Tensor
            ``[B, 1, K]`` errors (eq. 6), lower is a better fit.
        """
        if normalize:
            raise ValueError(
                "PrototypeClassifier's embeddings are errors; no normalize"
            )
        feats, wav_lens = self.features(wavs, wav_lens)
        return self.mods.model(feats, wav_lens).unsqueeze(1)

    def decide(self, errors):
        """Class probabilities and decisions from errors ``[B, K]``.

        Returns
        -------
        out_prob, score, index, text_lab
            As :meth:`classify_batch`.
        """
        errors = errors.masked_fill(self.prototype_classes == UNASSIGNED, math.inf)
        beta = self.mods.model.beta
        prototype_prob = torch.softmax(-beta * errors, dim=-1)
        named = self.prototype_classes.clamp(min=0).expand_as(prototype_prob)
        out_prob = torch.zeros(
            errors.shape[0], len(self.class_names), device=errors.device
        ).scatter_add_(1, named, prototype_prob)
        index = self.prototype_classes[errors.argmin(dim=-1)]
        score = out_prob.gather(1, index[:, None]).squeeze(1)
        return out_prob, score, index, self.hparams.label_encoder.decode_torch(index)

    def classify_batch(self, wavs, wav_lens=None):
        """Classifies a batch of waveforms at the model's rate.

        Returns
        -------
        out_prob : torch.Tensor
            ``[B, n_classes]`` probabilities.
        score : torch.Tensor
            ``[B]`` probability of the predicted class.
        index : torch.Tensor
            ``[B]`` predicted class index.
        text_lab : list of str
            Predicted class names.
        """
        return self.decide(self.encode_batch(wavs, wav_lens).squeeze(1))

    def forward(self, wavs, wav_lens=None):
        """Same as :meth:`classify_batch`."""
        return self.classify_batch(wavs, wav_lens)

    @torch.no_grad()
    def file_errors(self, path, chunk_seconds=DEFAULT_CHUNK_SECONDS):
        """Error of a whole file by every prototype, ``[K]``, chunk by chunk.

        Each chunk's errors are weighted by its frames, so a file shorter
        than ``chunk_seconds`` gives exactly the errors of one whole pass.
        """
        errors, frames = [], []
        for chunk in read_chunks(
            path, self.sample_rate, chunk_seconds, self.min_samples()
        ):
            feats, lens = self.features(chunk)
            errors.append(self.mods.model(feats, lens)[0])
            frames.append(feats.shape[1])
        if len(errors) == 1:
            return errors[0]
        weights = torch.tensor(frames, dtype=errors[0].dtype, device=errors[0].device)
        return (torch.stack(errors) * weights[:, None]).sum(dim=0) / weights.sum()

    def classify_file(self, path, chunk_seconds=DEFAULT_CHUNK_SECONDS):
        """Classifies an audio file of any length, rate and channel count.

        Arguments
        ---------
        path : str
            Audio file (WAV, FLAC, ...); resampled and downmixed as needed.
        chunk_seconds : float
            Longer files are read and reconstructed this many seconds at a
            time, so memory stays bounded.

        Returns
        -------
        out_prob, score, index, text_lab
            As :meth:`classify_batch`, for a batch of one.
        """
        return self.decide(self.file_errors(path, chunk_seconds)[None])

    def classify_files(
        self,
        paths,
        batch_size=16,
        chunk_seconds=DEFAULT_CHUNK_SECONDS,
        on_error="report",
    ):
        """Classifies many files; those no longer than a chunk go in batches.

        A clip's result does not depend on its batch-mates: the front end
        and the encoder see each clip's own end (see
        :meth:`LogMel.forward <speechbrain_protos.features.LogMel.forward>`
        and :class:`~speechbrain_protos.lobes.PrototypeReconstructor`), so
        batching gives what :meth:`classify_file` gives, up to float
        rounding. Batches gather files of similar length (read from the
        headers first), and no file is read twice.

        Arguments
        ---------
        paths : list of str
            Audio files.
        batch_size : int
            Clips per batch.
        chunk_seconds : float
            Longer files are classified alone, chunk by chunk.
        on_error : str
            ``"report"``: a file that cannot be classified (missing, not
            audio, damaged, too short) gets a result with its ``error`` and
            every other file is still classified; ``"raise"``: the first
            such file raises.

        Returns
        -------
        list of FileResult
            One per path, in order.

        Example
        -------
        >>> from speechbrain_protos.model_folder import model_config, write_model_folder
        >>> from speechbrain_protos.features import LogMel
        >>> from speechbrain_protos.lobes import PrototypeReconstructor
        >>> tmp = getfixture("tmpdir")
        >>> protos = PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2)
        >>> model = PrototypeClassifier.from_hparams(source=write_model_folder(
        ...     str(tmp / "m"), model_config(LogMel(n_fft=512, hop_length=256,
        ...     n_mels=32), protos, ["a", "b"]), protos.state_dict()))
        >>> soundfile.write(str(tmp / "x.wav"), torch.rand(4000).numpy(), 16000)
        >>> [r.error is None for r in model.classify_files(
        ...     [str(tmp / "x.wav"), str(tmp / "missing.wav")])]
        [True, False]
        """
        if on_error not in ("report", "raise"):
            raise ValueError(f"on_error must be 'report' or 'raise'; got {on_error!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        results = [None] * len(paths)

        def failed(position, error):
            if on_error == "raise":
                raise error
            results[position] = FileResult(os.fspath(paths[position]), error=str(error))

        short = []
        for position, path in enumerate(paths):
            try:
                info = audio_info(path)
                if info.duration > chunk_seconds:
                    errors = self.file_errors(path, chunk_seconds)
                    results[position] = self._file_result(path, errors[None])[0]
                else:
                    short.append((info.duration, position))
            except (AudioFileError, FileNotFoundError) as error:
                failed(position, error)
        short.sort()
        group = []
        for index, (_, position) in enumerate(short):
            try:
                wav = read_audio(paths[position], self.sample_rate, self.min_samples())
                group.append((position, wav))
            except (AudioFileError, FileNotFoundError) as error:
                failed(position, error)
            if group and (len(group) == batch_size or index == len(short) - 1):
                for position, result in zip(
                    [p for p, _ in group], self._classify_group(paths, group)
                ):
                    results[position] = result
                group = []
        return results

    def _classify_group(self, paths, group):
        """FileResults of ``[(position, waveform)]``, as one padded batch."""
        longest = max(wav.numel() for _, wav in group)
        wavs = torch.stack(
            [nn_pad(wav, (0, longest - wav.numel())) for _, wav in group]
        )
        lens = torch.tensor([wav.numel() / longest for _, wav in group])
        errors = self.encode_batch(wavs, lens).squeeze(1)
        return self._file_result([paths[p] for p, _ in group], errors)

    def _file_result(self, paths, errors):
        """FileResults of files and their errors ``[B, K]``."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        out_prob, score, index, text_lab = self.decide(errors)
        return [
            FileResult(
                path=os.fspath(path),
                label=label,
                score=float(value),
                index=int(cls),
                probabilities=dict(zip(self.class_names, prob.tolist())),
            )
            for path, label, value, cls, prob in zip(
                paths, text_lab, score.tolist(), index.tolist(), out_prob.cpu()
            )
        ]

    # ------------------------------------------------------------------
    # Prototypes you can hear
    # ------------------------------------------------------------------
    def prototype_index(self, label_or_index):
        """Index of a prototype given as an index or a class label.

        A label with several prototypes (unsupervised clusters) gives the
        first of them.
        """
        if isinstance(label_or_index, str):
            if label_or_index not in self.class_names:
                raise ValueError(
                    f"unknown label {label_or_index!r}; the model's classes are "
                    f"{', '.join(self.class_names)}"
                )
            target = self.class_names.index(label_or_index)
            matches = (self.prototype_classes == target).nonzero().flatten()
            if matches.numel() == 0:
                raise ValueError(f"no prototype has the class {label_or_index!r}")
            return int(matches[0])
        index = int(label_or_index)
        if not 0 <= index < self.n_prototypes:
            raise ValueError(
                f"prototype index must lie in [0, {self.n_prototypes}); got {index}"
            )
        return index

    def prototype_label(self, index):
        """Class name of prototype ``index`` (``cluster<k>`` if it has none)."""
        cls = int(self.prototype_classes[index])
        return self.class_names[cls] if cls >= 0 else f"cluster{index}"

    @torch.no_grad()
    def render_prototype(
        self,
        label_or_index,
        duration_s=2.0,
        pitch=1.0,
        gain_db=0.0,
        seed=0,
        path=None,
    ):
        """A prototype as sound: its frame held with the typical transforms.

        The prototype, without its bands centred below 20 Hz, goes through
        the running means of the transformations it was trained with (its
        "typical" gain, pitch and filters), is held for ``duration_s``,
        inverted to audio (seeded Griffin-Lim), faded in and out, and
        peak-normalised.

        Arguments
        ---------
        label_or_index : str or int
            A class label or a prototype index.
        duration_s : float
            Seconds of sound.
        pitch : float
            Frequency factor on top of the typical pitch: 2.0 is an octave up.
        gain_db : float
            Peak level in dB full scale (0: peak at 1.0; must be <= 0).
        seed : int
            Seed of Griffin-Lim's phase; the same seed gives the same samples.
        path : str, optional
            Also write the sound to this WAV file.

        Returns
        -------
        waveform : torch.Tensor
            ``[1, samples]`` float32, on the CPU (the work runs on the
            model's device).
        sample_rate : int
            The model's rate.
        """
        if not (math.isfinite(duration_s) and duration_s > 0):
            raise ValueError(f"duration_s must be a positive number; got {duration_s}")
        if not (math.isfinite(pitch) and pitch > 0):
            raise ValueError(f"pitch is a positive frequency factor; got {pitch}")
        if not (math.isfinite(gain_db) and gain_db <= 0):
            raise ValueError(f"gain_db is a peak level <= 0 dBFS; got {gain_db}")
        index = self.prototype_index(label_or_index)
        logmel = self.mods.compute_features
        model = self.mods.model
        n_samples = max(int(round(duration_s * self.sample_rate)), self.min_samples())
        n_frames = logmel.n_frames(n_samples)
        audible = model.prototypes.masked_fill(
            logmel.bin_frequencies().to(model.prototypes.device) < INFRASOUND_HZ, 0.0
        )
        frame = model.typical_prototypes(pitch, audible)[index]
        frames = frame.expand(1, n_frames, -1).contiguous()
        wave = logmel.inverse(frames, n_samples=n_samples, seed=seed)[0].cpu()
        wave = wave * envelope(n_samples, self.sample_rate)
        peak = wave.abs().max()
        if not torch.isfinite(peak) or peak == 0:
            raise RuntimeError(f"prototype {index} rendered to silence")
        wave = (wave * (10 ** (gain_db / 20) / peak)).unsqueeze(0)
        if path is not None:
            soundfile.write(path, wave[0].numpy(), self.sample_rate)
        return wave, self.sample_rate

    @torch.no_grad()
    def reconstruct_file(
        self, path, prototype=None, seed=0, chunk_seconds=DEFAULT_CHUNK_SECONDS
    ):
        """A file rebuilt by its best prototype, or by any chosen one.

        With ``prototype`` set to another class, this is timbre transfer: the
        input's loudness, pitch and filtering drive that class's prototype
        (a violin note played by the trumpet prototype).

        Arguments
        ---------
        path : str
            Audio file.
        prototype : str or int, optional
            Class label or prototype index; default: the best prototype.
        seed : int
            Seed of Griffin-Lim's phase.
        chunk_seconds : float
            Long files are handled this many seconds at a time.

        Returns
        -------
        Reconstruction
            Waveform, the prototype used, the file's errors for every
            prototype, input and reconstructed log-mels, and the per-frame
            transformation curves of the prototype used.
        """
        errors = self.file_errors(path, chunk_seconds)
        if prototype is None:
            named = errors.masked_fill(self.prototype_classes == UNASSIGNED, math.inf)
            index = int(named.argmin())
        else:
            index = self.prototype_index(prototype)
        model = self.mods.model
        logmel = self.mods.compute_features
        feats, recons, waves, curves = [], [], [], {}
        for chunk in read_chunks(
            path, self.sample_rate, chunk_seconds, self.min_samples()
        ):
            chunk_feats, lens = self.features(chunk)
            choice = torch.tensor([index], device=chunk_feats.device)
            params = model.predict_transforms(chunk_feats, lens)
            recon = reconstruct_chosen(
                model.prototypes, params, choice, model.transforms, chunk_feats.shape[1]
            )
            waves.append(
                logmel.inverse(recon, n_samples=chunk.numel(), seed=seed)[0].cpu()
            )
            feats.append(chunk_feats[0].cpu())
            recons.append(recon[0].cpu())
            for name, values in transform_curves(params.select(choice)).items():
                curves.setdefault(name, []).append(values[0].cpu())
        return Reconstruction(
            waveform=torch.cat(waves).unsqueeze(0),
            sample_rate=self.sample_rate,
            prototype=index,
            label=self.prototype_label(index),
            errors=errors.cpu(),
            feats=torch.cat(feats),
            reconstruction=torch.cat(recons),
            curves={name: torch.cat(values) for name, values in curves.items()},
        )

    def explain_file(
        self, path, out=None, top=5, seed=0, max_seconds=EXPLAIN_MAX_SECONDS
    ):
        """A figure of how the model explains a file.

        Input log-mel, its reconstruction by the best prototype, the squared
        error, the transformation curves, and the prototypes ranked by error.

        Arguments
        ---------
        path : str
            Audio file.
        out : str, optional
            PNG to write; default ``<file stem>_explained.png`` beside the
            input.
        top : int
            Prototypes shown in the ranking.
        seed : int
            Seed of Griffin-Lim (for the reconstruction's audio).
        max_seconds : float
            Longest file explained (default 30 s): a figure of a longer
            file is unreadable and its Griffin-Lim takes minutes. Longer
            files are refused before any work; cut out the part to explain.

        Returns
        -------
        dict
            ``figure`` (the PNG path), ``label``, ``prototype``,
            ``ranking``: (label, prototype index, error) best first, and
            ``reconstruction``: the :class:`Reconstruction` shown.
        """
        from speechbrain_protos.figures import plot_explanation

        duration = audio_info(path).duration
        if duration > max_seconds:
            raise ValueError(
                f"{path} lasts {duration:.1f} s; explain shows at most "
                f"{max_seconds:g} s (max_seconds, --max-seconds): cut out the "
                "part to explain"
            )
        result = self.reconstruct_file(path, seed=seed)
        order = result.errors.argsort()[:top].tolist()
        ranking = [(self.prototype_label(k), k, float(result.errors[k])) for k in order]
        if out is None:
            out = os.path.splitext(os.fspath(path))[0] + "_explained.png"
        plot_explanation(result, ranking, out, title=os.path.basename(path))
        return {
            "figure": out,
            "label": result.label,
            "prototype": result.prototype,
            "ranking": ranking,
            "reconstruction": result,
        }


def transform_curves(params):
    """Named per-frame curves ``[B, T]`` of one prototype's parameters.

    Example
    -------
    >>> from speechbrain_protos.transforms import TransformParams
    >>> curves = transform_curves(TransformParams(factor=torch.ones(1, 4)))
    >>> list(curves)
    ['pitch']
    """
    curves = {}
    if params.gain is not None:
        curves["gain"] = params.gain
    if params.factor is not None:
        curves["pitch"] = params.factor
    if params.filters is not None:
        names = ("low_cutoff", "low_slope", "high_cutoff", "high_slope")
        curves.update(zip(names, params.filters.unbind(-1)))
    return curves
