"""The LibriSpeech recipe, built in process for the benches that time it.

Prepares the recipe's manifests from a LibriSpeech folder (default: the
tests' LibriSpeech excerpt, ``LibriSpeech/`` in ``$SB_PROTOS_SHARED_DATA`` or
in ``shared/data`` inside or beside the checkout, one utterance per reader,
segment mode), then builds the recipe's datasets and its ``PrototypeBrain``
from its own YAML, as ``train.py`` does.
"""

import argparse
import os
import pathlib
import sys

from hyperpyyaml import load_hyperpyyaml

from speechbrain_protos.brain import PrototypeBrain
from speechbrain_protos.data.dataio import dataio_prep

REPO = pathlib.Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "LibriSpeech" / "speaker_id"
sys.path.insert(0, str(RECIPE))
from librispeech_prepare import prepare_librispeech  # noqa: E402

SHARED_DATA_ENV = "SB_PROTOS_SHARED_DATA"


def data_candidates():
    """Where the LibriSpeech excerpt is looked for, in order:
    ``$SB_PROTOS_SHARED_DATA/LibriSpeech``, then ``shared/data/LibriSpeech``
    inside the checkout, beside it, or beside any of its parents."""
    roots = (
        [pathlib.Path(os.environ[SHARED_DATA_ENV])]
        if os.environ.get(SHARED_DATA_ENV)
        else []
    )
    roots += [parent / "shared" / "data" for parent in (REPO, *REPO.parents)]
    return [root / "LibriSpeech" for root in roots]


def default_data():
    """The first of :func:`data_candidates` that exists, or None."""
    for candidate in data_candidates():
        if candidate.is_dir():
            return str(candidate)
    return None


def recipe_argument_parser(description):
    """A parser with the options of every bench of this recipe:
    ``--data_folder``, ``--speakers``, ``--batch`` and ``--json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--data_folder", default=default_data(), help="LibriSpeech root folder"
    )
    parser.add_argument("--speakers", type=int, default=128, help="speakers (K)")
    parser.add_argument("--batch", type=int, default=32, help="clips per batch")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser


def parse_recipe_args(parser, argv=None):
    """Parsed arguments; a clear error when there is no data folder."""
    args = parser.parse_args(argv)
    if args.data_folder is None:
        looked = ", ".join(str(c) for c in data_candidates())
        parser.error(
            f"no LibriSpeech folder found (looked in {looked}); pass --data_folder"
            f" or set {SHARED_DATA_ENV} to the folder that holds LibriSpeech/"
        )
    if not os.path.isdir(args.data_folder):
        parser.error(f"no LibriSpeech folder at {args.data_folder}")
    return args


def build_recipe(
    data_folder,
    output_folder,
    overrides,
    with_checkpointer=False,
    precision="fp32",
    stage="filters",
    device="cpu",
):
    """Hyperparameters, datasets and Brain of the recipe on ``device``.

    Arguments
    ---------
    data_folder : str
        LibriSpeech root (``train-clean-100`` is read, in segment mode).
    output_folder : str
        Where manifests, checkpoints and caches go.
    overrides : dict
        More YAML overrides (speakers, crops, loaders, ...).
    with_checkpointer : bool
        Give the Brain the recipe's checkpointer (training needs one).
    precision : str
        SpeechBrain's ``--precision`` and ``--eval_precision`` (``fp32`` or
        ``bf16``: the networks under autocast).
    stage : str
        Curriculum stage to start in. The default, ``filters``, has every
        transformation on, as a trained model has; the recipe starts in
        ``raw``, where the networks do not run.
    device : str
        SpeechBrain's ``--device`` (``cpu``, ``cuda``, ...).

    Returns
    -------
    hparams : dict
    datasets : dict
    brain : PrototypeBrain
    """
    overrides = {
        "data_folder": data_folder,
        "output_folder": output_folder,
        "subsets": ["train-clean-100"],
        "split_mode": "segment",
        **overrides,
    }
    with open(RECIPE / "hparams" / "librispeech.yaml", encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    prepare_librispeech(
        data_folder=hparams["data_folder"],
        save_folder=hparams["save_folder"],
        subsets=hparams["subsets"],
        n_speakers=hparams["n_speakers"],
        split_mode=hparams["split_mode"],
        split_ratio=hparams["split_ratio"],
        segment_seconds=hparams["segment_seconds"],
        min_segment_seconds=hparams["min_segment_seconds"],
        seed=hparams["seed"],
    )
    datasets, label_encoder = dataio_prep(hparams)
    curriculum = hparams["curriculum"]
    curriculum.stage_index = curriculum.stages.index(stage)
    brain = PrototypeBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={
            "device": device,
            "precision": precision,
            "eval_precision": precision,
        },
        checkpointer=hparams["checkpointer"] if with_checkpointer else None,
        class_names=[label_encoder.ind2lab[i] for i in range(len(label_encoder))],
    )
    brain.model.active_transforms = curriculum.active_transforms
    return hparams, datasets, brain
