"""FallbackCheckpointer: a run resumes from the newest checkpoint it can read."""

import logging
import os

import pytest
import torch

from speechbrain_protos.checkpoints import CheckpointError, FallbackCheckpointer


def three_checkpoints(folder):
    """A layer checkpointed with weights 1, 2 and 3 (epochs 1-3)."""
    layer = torch.nn.Linear(3, 2)
    checkpointer = FallbackCheckpointer(str(folder), {"layer": layer})
    saved = []
    for epoch in (1, 2, 3):
        with torch.no_grad():
            layer.weight.fill_(float(epoch))
        saved.append(
            checkpointer.save_checkpoint(meta={"epoch": epoch, "loss": 1.0 / epoch})
        )
    with torch.no_grad():
        layer.weight.zero_()
    return layer, checkpointer, saved


def truncate(checkpoint, size=64):
    with open(os.path.join(checkpoint.path, "layer.ckpt"), "r+b") as fout:
        fout.truncate(size)


def test_a_truncated_latest_checkpoint_resumes_from_the_previous(tmp_path, caplog):
    layer, checkpointer, saved = three_checkpoints(tmp_path)
    truncate(saved[-1])
    with caplog.at_level(logging.WARNING):
        recovered = checkpointer.recover_if_possible()
    assert recovered.meta["epoch"] == 2
    assert torch.all(layer.weight == 2.0)
    assert str(saved[-1].path) in caplog.text and "cannot be read" in caplog.text


def test_the_best_readable_checkpoint_by_key(tmp_path):
    layer, checkpointer, saved = three_checkpoints(tmp_path)
    truncate(saved[-1])  # the lowest loss
    assert checkpointer.recover_if_possible(min_key="loss").meta["epoch"] == 2
    assert torch.all(layer.weight == 2.0)


def test_an_empty_checkpoint_file_is_skipped_too(tmp_path):
    layer, checkpointer, saved = three_checkpoints(tmp_path)
    truncate(saved[-1], size=0)
    truncate(saved[-2], size=10)
    assert checkpointer.recover_if_possible().meta["epoch"] == 1
    assert torch.all(layer.weight == 1.0)


def test_no_readable_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    _, checkpointer, saved = three_checkpoints(tmp_path)
    for checkpoint in saved:
        truncate(checkpoint)
    with pytest.raises(CheckpointError, match="none of the 3 checkpoints"):
        checkpointer.recover_if_possible()


def test_no_checkpoint_at_all_starts_afresh(tmp_path):
    checkpointer = FallbackCheckpointer(str(tmp_path), {"layer": torch.nn.Linear(1, 1)})
    assert checkpointer.recover_if_possible() is None
