"""The steps every recipe's ``train.py`` shares, in SpeechBrain's order.

A recipe's ``train.py`` reads::

    hparams, run_opts = setup_experiment(sys.argv[1:])
    if not hparams["skip_prep"]:
        run_on_main(prepare_<dataset>, kwargs={...})
    run_experiment(hparams, run_opts)

so the only thing a recipe holds is its dataset knowledge: how to prepare
manifests, and its YAML.

Authors
 * speechbrain-protos developers 2026
"""

import gc
import os
import shutil
import sys

import speechbrain as sb
import torch.distributed as dist
import yaml
from hyperpyyaml import load_hyperpyyaml
from torch.nn.parallel import DistributedDataParallel

from speechbrain_protos.brain import PrototypeBrain
from speechbrain_protos.data.dataio import dataio_prep


def setup_experiment(argv, extra_overrides=None):
    """Parses the command line, joins DDP, loads the YAML, makes the folder.

    Arguments
    ---------
    argv : list of str
        ``[hparams.yaml, --key=value, ...]`` as SpeechBrain takes them.
    extra_overrides : dict, optional
        Overrides applied on top of the YAML before the command line's
        (nested mappings merge key by key).

    Returns
    -------
    hparams : dict
        Loaded hyperparameters (overrides applied).
    run_opts : dict
        SpeechBrain run options (device, distributed backend, ...).
    """
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    if extra_overrides:
        overrides = merge_overrides(
            extra_overrides, yaml.safe_load(overrides) if overrides else None
        )
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    # SpeechBrain copies the file that called it (this one); keep the
    # recipe's script beside it, as in every SpeechBrain output folder.
    script = os.path.abspath(sys.argv[0])
    if sb.utils.distributed.if_main_process() and os.path.isfile(script):
        shutil.copy(script, hparams["output_folder"])
    return hparams, run_opts


def merge_overrides(base, update):
    """Overrides ``base`` by ``update``, merging nested mappings key by key.

    Example
    -------
    >>> merge_overrides({"lr": 1, "curriculum": {"patience": 3, "max_epochs": 6}},
    ...                 {"curriculum": {"patience": 2}})
    {'lr': 1, 'curriculum': {'patience': 2, 'max_epochs': 6}}
    """
    merged = dict(base)
    for key, value in (update or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = merge_overrides(merged[key], value)
        merged[key] = value
    return merged


def run_experiment(hparams, run_opts):
    """Trains the recipe's Brain, then tests its best checkpoint.

    The Brain is :class:`~speechbrain_protos.brain.PrototypeBrain` unless
    the YAML names another with ``brain_class`` (the baselines of
    :mod:`speechbrain_protos.baseline_brains`); each has a ``train_and_test``.

    Arguments
    ---------
    hparams : dict
        Loaded recipe hyperparameters (manifests already prepared).
    run_opts : dict
        SpeechBrain run options.

    Returns
    -------
    speechbrain.core.Brain
        The brain, with ``test_stats`` (OA, AA, L_rec, loss) filled in.
        Under DDP the process group is closed before returning.
    """
    datasets, label_encoder = dataio_prep(hparams)
    class_names = [label_encoder.ind2lab[index] for index in range(len(label_encoder))]
    brain_class = hparams.get("brain_class") or PrototypeBrain
    brain = brain_class(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
        class_names=class_names,
    )
    brain.train_and_test(datasets)
    close_distributed(brain)
    return brain


def close_distributed(brain):
    """Waits for every process, unwraps the DDP modules, then closes the
    process group.

    A process that exits while another still works (the main one writes the
    results) can tear gloo's threads down mid-operation and abort. A DDP
    wrapper keeps the process group (and gloo's worker threads) alive after
    ``destroy_process_group``; freed only at interpreter exit, it can abort
    the process ("terminate called without an active exception"), so the
    wrappers go first.

    Arguments
    ---------
    brain : speechbrain.core.Brain
        The trained brain; its ``modules`` lose their DDP wrappers.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    for name, module in list(brain.modules.items()):
        if isinstance(module, DistributedDataParallel):
            brain.modules[name] = module.module
    gc.collect()
    dist.destroy_process_group()
