"""A SpeechBrain checkpointer that resumes from the newest checkpoint it can read.

A run killed while writing a checkpoint, or a disk that filled up, can leave
the newest checkpoint truncated. SpeechBrain's ``Checkpointer`` then stops the
restarted run with a traceback, although it keeps earlier, good checkpoints.
:class:`FallbackCheckpointer` tries the candidates in order of preference and
recovers from the first one that loads, with a warning for each one it skips.
The recipes' YAML use it::

    checkpointer: !new:speechbrain_protos.checkpoints.FallbackCheckpointer
        checkpoints_dir: !ref <save_folder>
        recoverables: ...

Authors
 * speechbrain-protos developers 2026
"""

import logging
import pickle

from speechbrain.utils.checkpoints import Checkpointer

logger = logging.getLogger(__name__)

# What loading a damaged recoverable raises: torch.load on a cut zip or
# pickle, a cut JSON or YAML file, a missing file.
UNREADABLE = (RuntimeError, EOFError, pickle.UnpicklingError, OSError, ValueError)


class CheckpointError(RuntimeError):
    """No checkpoint of a run could be read."""


class FallbackCheckpointer(Checkpointer):
    """SpeechBrain's ``Checkpointer``; recovery skips unreadable checkpoints.

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
