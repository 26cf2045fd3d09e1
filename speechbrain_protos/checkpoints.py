"""A SpeechBrain checkpointer that resumes from the newest checkpoint it can
read, random state included.

A run killed while writing a checkpoint, or a disk that filled up, can leave
the newest checkpoint truncated. SpeechBrain's ``Checkpointer`` then stops the
restarted run with a traceback, although it keeps earlier, good checkpoints.
:class:`FallbackCheckpointer` tries the candidates in order of preference and
recovers from the first one that loads, with a warning for each one it skips.
It also checkpoints the random generators (:class:`RandomState`), so a run
killed and resumed draws the same augmentation noise, crops and shuffles as
one that never stopped. The recipes' YAML use it::

    checkpointer: !new:speechbrain_protos.checkpoints.FallbackCheckpointer
        checkpoints_dir: !ref <save_folder>
        recoverables: ...

Authors
 * speechbrain-protos developers 2026
"""

import logging
import pickle
import random

import numpy as np
import torch
import torch.distributed as dist
from speechbrain.utils.checkpoints import (
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)

logger = logging.getLogger(__name__)

# What loading a damaged recoverable raises: torch.load on a cut zip or
# pickle, a cut JSON or YAML file, a missing file.
UNREADABLE = (RuntimeError, EOFError, pickle.UnpicklingError, OSError, ValueError)


class CheckpointError(RuntimeError):
    """No checkpoint of a run could be read."""


@register_checkpoint_hooks
class RandomState:
    """Python's, numpy's and torch's random generators, as a recoverable.

    Saved as plain tensors and numbers (read back with torch's tensors-only
    unpickler). Under DDP the main process saves its state; on resume every
    other process derives its own from it and its rank, so processes keep
    drawing different numbers.

    Example
    -------
    >>> state, path = RandomState(), str(getfixture("tmpdir") / "rng.ckpt")
    >>> _ = torch.manual_seed(3)
    >>> state.save(path)
    >>> first = torch.rand(2)
    >>> state.load(path)
    >>> torch.equal(torch.rand(2), first)
    True
    """

    @mark_as_saver
    def save(self, path):
        """Writes the generators' states to ``path``."""
        version, python_state, gauss = random.getstate()
        kind, keys, position, has_gauss, numpy_gauss = np.random.get_state()
        state = {
            "python": [version, torch.tensor(python_state), gauss],
            "numpy": [
                kind,
                torch.from_numpy(keys.astype(np.int64)),
                position,
                has_gauss,
                numpy_gauss,
            ],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        torch.save(state, path)

    @mark_as_loader
    def load(self, path, end_of_epoch=True):
        """Restores the generators from ``path``."""
        del end_of_epoch  # the state is the same either way
        state = torch.load(path, map_location="cpu", weights_only=True)
        version, python_state, gauss = state["python"]
        random.setstate((version, tuple(python_state.tolist()), gauss))
        kind, keys, position, has_gauss, numpy_gauss = state["numpy"]
        np.random.set_state(
            (kind, keys.numpy().astype(np.uint32), position, has_gauss, numpy_gauss)
        )
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        if rank:
            seed = int(torch.randint(2**31 - 1, ())) + rank
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)


class FallbackCheckpointer(Checkpointer):
    """SpeechBrain's ``Checkpointer``; recovery skips unreadable checkpoints,
    and the random state is one of the recoverables (``random_state``;
    optional on load, so checkpoints written before it still load).

    Arguments
    ---------
    *args, **kwargs
        As for ``speechbrain.utils.checkpoints.Checkpointer``.

    Example
    -------
    >>> import os, torch
    >>> folder = str(getfixture("tmpdir"))
    >>> layer = torch.nn.Linear(2, 2)
    >>> checkpointer = FallbackCheckpointer(folder, {"layer": layer})
    >>> with torch.no_grad():
    ...     _ = layer.weight.fill_(1.0)
    >>> _ = checkpointer.save_checkpoint(meta={"epoch": 1})
    >>> with torch.no_grad():
    ...     _ = layer.weight.fill_(2.0)
    >>> newest = checkpointer.save_checkpoint(meta={"epoch": 2})
    >>> with open(os.path.join(newest.path, "layer.ckpt"), "r+b") as fout:
    ...     _ = fout.truncate(100)
    >>> checkpointer.recover_if_possible().meta["epoch"]
    1
    >>> float(layer.weight[0, 0].detach())
    1.0
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "random_state" not in self.recoverables:
            self.add_recoverable("random_state", RandomState(), optional_load=True)

    def recover_if_possible(
        self, importance_key=None, max_key=None, min_key=None, ckpt_predicate=None
    ):
        """Recovers from the preferred checkpoint that can be read.

        Candidates are ordered as SpeechBrain's ``find_checkpoints`` orders
        them (the newest, or the best by ``max_key``/``min_key``). Each one
        that fails to load is skipped with a warning; every recoverable is
        then loaded from the next one, so nothing of the skipped one stays.

        Returns
        -------
        speechbrain.utils.checkpoints.Checkpoint or None
            The checkpoint recovered from; None when there is none.

        Raises
        ------
        CheckpointError
            If there are checkpoints and none of them can be read.
        """
        candidates = self.find_checkpoints(
            importance_key=importance_key,
            max_key=max_key,
            min_key=min_key,
            ckpt_predicate=ckpt_predicate,
            max_num_checkpoints=None,
        )
        for checkpoint in candidates:
            try:
                self.load_checkpoint(checkpoint)
            except UNREADABLE as error:
                reason = str(error).strip().splitlines()[0] if str(error) else ""
                logger.warning(
                    "Checkpoint %s cannot be read (%s: %s); trying the next one",
                    checkpoint.path,
                    type(error).__name__,
                    reason,
                )
                continue
            logger.info("Recovered from checkpoint %s", checkpoint.path)
            return checkpoint
        if candidates:
            raise CheckpointError(
                f"none of the {len(candidates)} checkpoints in {self.checkpoints_dir} "
                "can be read; delete them to start afresh"
            )
        logger.info("No checkpoint in %s: starting afresh", self.checkpoints_dir)
        return None
