"""Curriculum: stage progression, learning-rate scales, checkpointing."""

import pytest
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_protos.curriculum import Curriculum

FULL = ["raw", "gain", "pitch", "filters", "ce_temperature", "lr_decay"]


def run(curriculum, losses):
    """Feeds one training loss per epoch; returns the epochs that ran."""
    epochs = []
    for loss in losses:
        epoch = next(curriculum, None)
        if epoch is None:
            break
        epochs.append(epoch)
        curriculum.update(loss, step=epoch * 10)
    return epochs


def test_patience_counts_epochs_without_a_new_best():
    curriculum = Curriculum(["raw", "gain"], limit=50, patience=3)
    # Improves for 4 epochs, then stalls: 3 stale epochs end the stage.
    run(curriculum, [5, 4, 3, 2, 2.5, 2.1, 2.0])
    assert curriculum.stage == "gain"
    assert curriculum.history[1] == {
        "stage": "gain",
        "epoch": 8,
        "reason": "no improvement for 3 epochs",
    }


def test_min_delta_ignores_tiny_improvements():
    curriculum = Curriculum(["raw", "gain"], limit=50, patience=2, min_delta=0.1)
    run(curriculum, [1.0, 0.95, 0.92])
    assert curriculum.stage == "gain"


def test_max_epochs_ends_a_stage_and_the_last_stage_ends_training():
    curriculum = Curriculum(["raw", "gain"], limit=50, patience=100, max_epochs=2)
    epochs = run(curriculum, [3, 2, 1, 0.5, 0.2, 0.1])
    assert epochs == [1, 2, 3, 4]
    assert curriculum.finished and curriculum.stage == "gain"


def test_without_stop_when_done_training_runs_to_the_limit():
    curriculum = Curriculum(["raw"], limit=5, patience=1, stop_when_done=False)
    assert run(curriculum, [1.0] * 10) == [1, 2, 3, 4, 5]


def test_transforms_accumulate_in_the_papers_order():
    curriculum = Curriculum(["raw", "pitch", "gain", "filters"], limit=50, max_epochs=1)
    seen = []
    for epoch in curriculum:
        seen.append(curriculum.active_transforms)
        curriculum.update(1.0, step=epoch)
    assert seen == [(), ("pitch",), ("gain", "pitch"), ("gain", "pitch", "filters")]


def test_beta_is_frozen_until_its_stage_and_decay_applies_to_all():
    curriculum = Curriculum(FULL, limit=50, max_epochs=1)
    scales = []
    for _ in curriculum:
        scales.append(
            (
                curriculum.stage,
                curriculum.lr_scale("beta", 0),
                curriculum.lr_scale("gain", 0),
            )
        )
        assert curriculum.ce_active == (
            curriculum.stage in ("ce_temperature", "lr_decay")
        )
        curriculum.update(1.0, step=0)
    assert scales == [
        ("raw", 0.0, 1.0),
        ("gain", 0.0, 1.0),
        ("pitch", 0.0, 1.0),
        ("filters", 0.0, 1.0),
        ("ce_temperature", 1.0, 1.0),
        ("lr_decay", pytest.approx(0.1), pytest.approx(0.1)),
    ]


def test_beta_trains_from_the_start_when_its_stage_is_not_listed():
    assert Curriculum(["raw", "gain"], limit=3).lr_scale("beta", 0) == 1.0


def test_warmup_ramps_the_new_decoder_and_the_encoder_only():
    curriculum = Curriculum(
        ["raw", "gain"], limit=50, max_epochs=1, warmup_steps=100, warmup_start=0.01
    )
    next(curriculum)
    curriculum.update(1.0, step=40)  # raw -> gain at optimizer step 40
    assert curriculum.lr_scale("gain", 40) == pytest.approx(0.01)
    assert curriculum.lr_scale("encoder", 90) == pytest.approx(0.01 + 0.99 * 0.5)
    assert curriculum.lr_scale("gain", 140) == pytest.approx(1.0)
    assert curriculum.lr_scale("gain", 500) == pytest.approx(1.0)
    assert curriculum.lr_scale("prototypes", 40) == 1.0
    assert curriculum.lr_scale("pitch", 40) == 1.0


def test_checkpoint_round_trip_resumes_mid_stage(tmp_path):
    original = Curriculum(["raw", "gain", "pitch"], limit=20, patience=2, max_epochs=3)
    Checkpointer(tmp_path, {"curriculum": original})
    run(original, [3.0, 2.0])  # two epochs of raw, still improving
    Checkpointer(tmp_path, {"curriculum": original}).save_checkpoint()

    resumed = Curriculum(["raw", "gain", "pitch"], limit=20, patience=2, max_epochs=3)
    Checkpointer(tmp_path, {"curriculum": resumed}).recover_if_possible()
    assert (resumed.current, resumed.stage, resumed.epochs_in_stage) == (2, "raw", 2)
    assert resumed.best_loss == 2.0
    # One more epoch reaches max_epochs, exactly as the uninterrupted run does.
    run(resumed, [1.0])
    run(original, [1.0])
    assert resumed.stage == original.stage == "gain"
    assert resumed.history == original.history


def test_intra_epoch_checkpoint_repeats_the_epoch(tmp_path):
    curriculum = Curriculum(["raw"], limit=5)
    next(curriculum)
    checkpointer = Checkpointer(tmp_path, {"curriculum": curriculum})
    checkpointer.save_checkpoint(end_of_epoch=False)
    fresh = Curriculum(["raw"], limit=5)
    Checkpointer(tmp_path, {"curriculum": fresh}).recover_if_possible()
    assert fresh.current == 0 and next(fresh) == 1


def test_recovering_other_stages_raises(tmp_path):
    Checkpointer(
        tmp_path, {"curriculum": Curriculum(["raw", "gain"], limit=5)}
    ).save_checkpoint()
    other = Curriculum(["raw", "pitch"], limit=5)
    with pytest.raises(ValueError, match="written with curriculum stages"):
        Checkpointer(tmp_path, {"curriculum": other}).recover_if_possible()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(stages=[]), "at least one stage"),
        (dict(stages=["raw", "reverb"]), "unknown curriculum stages"),
        (dict(stages=["raw", "gain", "gain"]), "listed twice"),
        (dict(stages=["raw"], patience=0), "patience"),
    ],
)
def test_bad_configuration_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Curriculum(limit=5, **kwargs)


def test_lr_decay_may_repeat():
    curriculum = Curriculum(["raw", "lr_decay", "lr_decay"], limit=10, max_epochs=1)
    run(curriculum, [1.0] * 3)
    assert curriculum.lr_scale("encoder", 0) == pytest.approx(0.01)
