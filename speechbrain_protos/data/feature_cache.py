"""Front-end features of whole clips, computed once and kept on disk.

Training reads every clip once per epoch, and the log-mels of a clip do not
change between epochs: :class:`FeatureCache` computes them the first time
and reads them back afterwards (``.npy`` files, written atomically, so that
DataLoader workers and processes of a multi-GPU run can share one folder).

Entries are keyed by the clip (absolute path, sample range, the file's size
and modification time) and kept in a sub-folder named by a digest of the
front end's configuration: an edited file, or a new ``n_fft``, hop, mel
count or rate, never reads stale features. The folder's size is bounded:
past ``max_gigabytes`` features are still computed but no longer stored.

Training crops then come from the cached features
(:func:`random_frame_crop`): the offset is a whole number of hops, and the
crop's first and last frames see the clip's real neighbouring samples
instead of the reflection padding of a cropped waveform. Every other frame
equals the front end's output on the cropped waveform.

Authors
 * speechbrain-protos developers 2026
"""

import copy
import hashlib
import json
import logging
import os
import uuid

import numpy as np
import torch

from speechbrain_protos.data.clips import loop_to_length, read_clip

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the meaning of a stored entry changes
CONFIG_FILE = "front_end.json"


def front_end_digest(front_end):
    """Short digest of a front end's type and configuration.

    Arguments
    ---------
    front_end : torch.nn.Module
        A module with a ``config`` dict (such as
        :class:`speechbrain_protos.features.LogMel`).

    Returns
    -------
    str
        16 hexadecimal digits; equal configurations give equal digests.

    Example
    -------
    >>> from speechbrain_protos.features import LogMel
    >>> front_end_digest(LogMel(n_mels=64)) == front_end_digest(LogMel(n_mels=64))
    True
    >>> front_end_digest(LogMel(n_mels=64)) == front_end_digest(LogMel(n_mels=80))
    False
    """
    if not isinstance(getattr(front_end, "config", None), dict):
        raise TypeError(
            "the feature cache needs a front end with a `config` dict (such as "
            f"speechbrain_protos.features.LogMel); got {type(front_end).__name__}"
        )
    described = {
        "type": f"{type(front_end).__module__}.{type(front_end).__qualname__}",
        "config": front_end.config,
        "format": FORMAT_VERSION,
    }
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def random_frame_crop(feats, n_frames):
    """A random window of ``n_frames`` frames of ``[T, F]`` features.

    Clips shorter than the window are expected looped already (see
    :meth:`FeatureCache.features`); they come back whole.

    Example
    -------
    >>> random_frame_crop(torch.zeros(10, 4), 3).shape
    torch.Size([3, 4])
    >>> random_frame_crop(torch.zeros(2, 4), 3).shape
    torch.Size([2, 4])
    """
    if feats.shape[0] <= n_frames:
        return feats
    offset = int(torch.randint(feats.shape[0] - n_frames + 1, (1,)))
    return feats[offset : offset + n_frames]


class FeatureCache:
    """Features of whole clips: computed on first use, then read from disk.

    Arguments
    ---------
    folder : str
        Where entries go; each front-end configuration gets its own
        sub-folder, named by :func:`front_end_digest`.
    front_end : torch.nn.Module
        Maps a ``[1, samples]`` waveform to ``[1, frames, bins]`` features
        and has a ``config`` dict and a ``sample_rate``.
    max_gigabytes : float
        Size of the sub-folder past which new features are computed but not
        stored. Each process counts what it finds at its first write plus
        what it writes, so several workers may overshoot by a few entries.

    Example
    -------
    >>> import soundfile
    >>> from speechbrain_protos.features import LogMel
    >>> folder = getfixture("tmpdir")
    >>> path = str(folder / "tone.wav")
    >>> soundfile.write(path, 0.1 * np.sin(np.arange(8000) / 5.0), 16000)
    >>> cache = FeatureCache(str(folder / "cache"), LogMel(n_mels=40))
    >>> first = cache.features(path, 0, 8000, 16000)
    >>> first.shape
    torch.Size([16, 40])
    >>> cache.stored_entries()
    1
    >>> bool(torch.equal(cache.features(path, 0, 8000, 16000), first))
    True
    """

    def __init__(self, folder, front_end, max_gigabytes=20.0):
        if max_gigabytes <= 0:
            raise ValueError(
                f"max_gigabytes must be positive; got {max_gigabytes} (set the "
                "cache folder to null to switch the cache off)"
            )
        self.front_end = copy.deepcopy(front_end).cpu()  # workers run on the CPU
        self.folder = os.path.join(folder, front_end_digest(front_end))
        self.max_bytes = int(max_gigabytes * 1024**3)
        self._bytes = None  # counted at the first write of each process
        self._full_warned = False
        os.makedirs(self.folder, exist_ok=True)
        config_path = os.path.join(self.folder, CONFIG_FILE)
        if not os.path.isfile(config_path):
            self._atomic_write(
                config_path,
                lambda fout: fout.write(
                    json.dumps(front_end.config, indent=1, default=str).encode()
                ),
            )

    def features(self, path, start, stop, file_rate, loop_to=0):
        """Features ``[frames, bins]`` of samples ``[start, stop)`` of a file.

        Arguments
        ---------
        path : str
            Audio file.
        start, stop : int
            Sample range in the file.
        file_rate : int
            The file's sample rate; the clip is resampled to the front
            end's.
        loop_to : int
            Clips shorter than this many samples (at the front end's rate)
            are looped to exactly this length first, as training crops are.

        Returns
        -------
        torch.Tensor
            The front end's output for the clip.
        """
        entry = self._entry_path(path, start, stop, loop_to)
        if os.path.isfile(entry):
            try:
                return torch.from_numpy(np.load(entry))
            except (OSError, ValueError) as error:
                logger.warning("unreadable entry %s (%s); recomputed", entry, error)
        feats = self._compute(path, start, stop, file_rate, loop_to)
        self._store(entry, feats)
        return feats

    def stored_entries(self):
        """Number of feature files in this front end's sub-folder."""
        return sum(
            name.endswith(".npy")
            for _, _, names in os.walk(self.folder)
            for name in names
        )

    def _entry_path(self, path, start, stop, loop_to):
        path = os.path.abspath(path)
        try:
            stat = os.stat(path)
        except OSError as error:
            raise FileNotFoundError(
                f"cannot read the audio file {path} for the feature cache: {error}"
            ) from error
        key = json.dumps([path, start, stop, stat.st_size, stat.st_mtime_ns, loop_to])
        digest = hashlib.sha1(key.encode("utf-8")).hexdigest()
        return os.path.join(self.folder, digest[:2], digest + ".npy")

    def _compute(self, path, start, stop, file_rate, loop_to):
        signal = read_clip(path, start, stop, file_rate, self.front_end.sample_rate)
        if loop_to and signal.numel() < loop_to:
            signal = loop_to_length(signal, loop_to)
        min_samples = getattr(self.front_end, "n_fft", 0) // 2 + 1
        if signal.numel() < min_samples:  # too short to frame: pad with silence
            signal = torch.nn.functional.pad(signal, (0, min_samples - signal.numel()))
        with torch.no_grad():
            return self.front_end(signal.unsqueeze(0))[0].contiguous()

    def _store(self, entry, feats):
        if self._bytes is None:
            self._bytes = sum(
                os.path.getsize(os.path.join(root, name))
                for root, _, names in os.walk(self.folder)
                for name in names
            )
        array = feats.numpy()
        if self._bytes + array.nbytes > self.max_bytes:
            if not self._full_warned:
                logger.warning(
                    "feature cache %s reached its bound of %.3g GB; further "
                    "features are computed every time",
                    self.folder,
                    self.max_bytes / 1024**3,
                )
                self._full_warned = True
            return
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        self._atomic_write(entry, lambda fout: np.save(fout, array))
        self._bytes += array.nbytes

    @staticmethod
    def _atomic_write(path, write):
        temporary = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        try:
            with open(temporary, "wb") as fout:
                write(fout)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
