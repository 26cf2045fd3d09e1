"""Curriculum of the paper (sec. 3.4): one more transformation at a time.

:class:`Curriculum` is the epoch loop of training, a checkpointed
:class:`speechbrain.utils.epoch_loop.EpochCounter`, that also walks a list of
stages declared in YAML. Each stage adds to the ones before it:

========================  ==================================================
``raw``                   plain prototypes, no transformation
``gain``, ``pitch``,      switch that transformation on (its decoder and the
``filters``               shared encoder optionally warm up their lr)
``ce_temperature``        switch L_ce on and let its inverse temperature
                          beta train (when this stage is listed, L_ce has
                          weight 0 and beta is frozen before it)
``lr_decay``              multiply every learning rate by ``lr_decay_factor``
========================  ==================================================

A stage ends when the training loss has not improved for ``patience`` epochs
(paper: 10, authors' code: 40) or after ``max_epochs`` epochs in it. When the
last stage ends, training stops (``stop_when_done``) or goes on until
``limit`` epochs. A stage change decided at the end of epoch E takes effect at
the start of epoch E + 1, so a checkpoint saved at the end of epoch E holds
the model exactly as it was trained and the schedule that comes next; a
resumed run continues in the same stage.

Authors
 * speechbrain-protos developers 2026
"""

import json
import logging

from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.epoch_loop import EpochCounter

logger = logging.getLogger(__name__)

TRANSFORM_STAGES = ("gain", "pitch", "filters")
STAGES = ("raw",) + TRANSFORM_STAGES + ("ce_temperature", "lr_decay")
ENCODER_GROUP = "encoder"
BETA_GROUP = "beta"


@register_checkpoint_hooks
class Curriculum(EpochCounter):
    """Epoch loop that switches transformations on stage by stage.

    Arguments
    ---------
    stages : list of str
        Stage names (see the module docstring), e.g.
        ``[raw, gain, pitch, filters, ce_temperature, lr_decay]``.
    limit : int
        Maximum number of epochs in all.
    patience : int
        Epochs without a new best training loss that end a stage.
    max_epochs : int, optional
        Most epochs one stage may last.
    min_delta : float
        Improvement below this does not count as one.
    warmup_steps : int
        Optimizer steps over which a newly trained group's lr rises linearly
        (0: no warm-up). The groups are the new transformation's decoder and
        the encoder, or beta for ``ce_temperature``.
    warmup_start : float
        Share of the lr a warm-up starts from (authors' code: 0.001).
    lr_decay_factor : float
        Factor of each ``lr_decay`` stage.
    stop_when_done : bool
        Stop training when the last stage ends.

    Example
    -------
    >>> curriculum = Curriculum(["raw", "gain", "pitch"], limit=20, patience=2)
    >>> for epoch in curriculum:
    ...     change = curriculum.update(train_loss=1.0, step=10 * epoch)
    >>> curriculum.current, curriculum.active_transforms
    (9, ('gain', 'pitch'))
    >>> [(entry["stage"], entry["epoch"]) for entry in curriculum.history]
    [('raw', 1), ('gain', 4), ('pitch', 7)]
    """

    def __init__(
        self,
        stages,
        limit,
        patience=10,
        max_epochs=None,
        min_delta=0.0,
        warmup_steps=0,
        warmup_start=0.001,
        lr_decay_factor=0.1,
        stop_when_done=True,
    ):
        super().__init__(limit)
        stages = list(stages)
        if not stages:
            raise ValueError("the curriculum needs at least one stage")
        unknown = [name for name in stages if name not in STAGES]
        if unknown:
            raise ValueError(
                f"unknown curriculum stages {unknown}; expected names from {STAGES}"
            )
        repeated = [
            name
            for name in set(stages)
            if name != "lr_decay" and stages.count(name) > 1
        ]
        if repeated:
            raise ValueError(f"curriculum stages listed twice: {sorted(repeated)}")
        if patience < 1:
            raise ValueError(f"patience must be >= 1; got {patience}")
        self.stages = stages
        self.patience = patience
        self.max_epochs = max_epochs
        self.min_delta = min_delta
        self.warmup_steps = warmup_steps
        self.warmup_start = warmup_start
        self.lr_decay_factor = lr_decay_factor
        self.stop_when_done = stop_when_done
        self.stage_index = 0
        self.best_loss = None
        self.stale_epochs = 0
        self.epochs_in_stage = 0
        self.stage_start_step = 0
        self.finished = False
        self.history = [{"stage": stages[0], "epoch": 1, "reason": "start"}]

    @property
    def stage(self):
        """Name of the current stage."""
        return self.stages[self.stage_index]

    @property
    def reached(self):
        """Stages up to and including the current one."""
        return self.stages[: self.stage_index + 1]

    @property
    def active_transforms(self):
        """Transformations switched on so far, in the paper's order."""
        return tuple(name for name in TRANSFORM_STAGES if name in self.reached)

    @property
    def ce_active(self):
        """Whether L_ce is on and beta learns (always, unless
        ``ce_temperature`` is a later stage)."""
        return "ce_temperature" not in self.stages or "ce_temperature" in self.reached

    def lr_scale(self, group, step):
        """Multiplier of a parameter group's base learning rate.

        Arguments
        ---------
        group : str
            Group name: ``prototypes``, ``beta``, ``encoder`` or a
            transformation name.
        step : int
            Optimizer steps taken so far.

        Returns
        -------
        float
            Product of the lr decays reached, the warm-up ramp of the
            current stage, and 0 for a frozen beta.

        Example
        -------
        >>> curriculum = Curriculum(["raw", "ce_temperature", "lr_decay"], limit=9)
        >>> curriculum.lr_scale("beta", step=0), curriculum.lr_scale("gain", step=0)
        (0.0, 1.0)
        """
        if group == BETA_GROUP and not self.ce_active:
            return 0.0
        scale = self.lr_decay_factor ** self.reached.count("lr_decay")
        if self.warmup_steps > 0 and group in self._warming_groups():
            progress = min(1.0, (step - self.stage_start_step) / self.warmup_steps)
            scale *= self.warmup_start + (1.0 - self.warmup_start) * progress
        return scale

    def _warming_groups(self):
        if self.stage in TRANSFORM_STAGES:
            return (self.stage, ENCODER_GROUP)
        if self.stage == "ce_temperature":
            return (BETA_GROUP,)
        return ()

    def update(self, train_loss, step):
        """Records an epoch's training loss; may move to the next stage.

        Arguments
        ---------
        train_loss : float
            Mean training loss of the epoch that just ended.
        step : int
            Optimizer steps taken so far (start of a warm-up).

        Returns
        -------
        dict or None
            ``{"from", "to", "epoch", "reason"}`` when the stage changes
            (``to`` is None when the curriculum has finished), else None.
        """
        self.epochs_in_stage += 1
        if self.best_loss is None or train_loss < self.best_loss - self.min_delta:
            self.best_loss = float(train_loss)
            self.stale_epochs = 0
        else:
            self.stale_epochs += 1
        if self.stale_epochs >= self.patience:
            reason = f"no improvement for {self.stale_epochs} epochs"
        elif self.max_epochs is not None and self.epochs_in_stage >= self.max_epochs:
            reason = f"{self.epochs_in_stage} epochs in stage"
        else:
            return None
        previous = self.stage
        if self.stage_index == len(self.stages) - 1:
            if not self.stop_when_done:
                return None
            self.finished = True
            return {
                "from": previous,
                "to": None,
                "epoch": self.current,
                "reason": reason,
            }
        self.stage_index += 1
        self.best_loss = None
        self.stale_epochs = 0
        self.epochs_in_stage = 0
        self.stage_start_step = step
        self.history.append(
            {"stage": self.stage, "epoch": self.current + 1, "reason": reason}
        )
        logger.info("Curriculum: %s -> %s (%s)", previous, self.stage, reason)
        return {
            "from": previous,
            "to": self.stage,
            "epoch": self.current,
            "reason": reason,
        }

    def __next__(self):
        if self.finished:
            raise StopIteration
        return super().__next__()

    @mark_as_saver
    def _save(self, path):
        state = {
            "current": self.current,
            "stages": self.stages,
            "stage_index": self.stage_index,
            "best_loss": self.best_loss,
            "stale_epochs": self.stale_epochs,
            "epochs_in_stage": self.epochs_in_stage,
            "stage_start_step": self.stage_start_step,
            "finished": self.finished,
            "history": self.history,
        }
        with open(path, "w", encoding="utf-8") as fout:
            json.dump(state, fout, indent=1)

    @mark_as_loader
    def _recover(self, path, end_of_epoch=True):
        with open(path, encoding="utf-8") as fin:
            state = json.load(fin)
        if state["stages"] != self.stages:
            raise ValueError(
                f"checkpoint {path} was written with curriculum stages "
                f"{state['stages']}, not {self.stages}; start a new output folder "
                "or restore the stages"
            )
        self.current = state["current"] if end_of_epoch else state["current"] - 1
        for key in (
            "stage_index",
            "best_loss",
            "stale_epochs",
            "epochs_in_stage",
            "stage_start_step",
            "finished",
            "history",
        ):
            setattr(self, key, state[key])
