"""Closing a distributed run leaves nothing behind that could abort at exit."""

import gc
import types
import weakref

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from speechbrain_protos.experiment import close_distributed


def test_close_unwraps_ddp_and_frees_it_before_the_group_goes(one_process_group):
    """A DDP wrapper holds the process group (and gloo's threads); freed only
    at interpreter exit it can abort the process, so closing frees it first."""
    model = torch.nn.Linear(3, 2)
    wrapper = DistributedDataParallel(model)
    wrapper(torch.rand(4, 3)).sum().backward()
    brain = types.SimpleNamespace(modules=torch.nn.ModuleDict({"model": wrapper}))
    alive = weakref.ref(wrapper)
    del wrapper
    close_distributed(brain)
    gc.collect()
    assert brain.modules["model"] is model
    assert alive() is None
    assert not dist.is_initialized()


def test_close_outside_a_distributed_run_changes_nothing():
    model = torch.nn.Linear(3, 2)
    brain = types.SimpleNamespace(modules=torch.nn.ModuleDict({"model": model}))
    close_distributed(brain)
    assert brain.modules["model"] is model
