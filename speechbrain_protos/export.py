"""Turns a finished training run into a self-contained model folder.

A run folder (a recipe's ``output_folder`` after training and testing)
holds ``model_config.json`` (front end, model arguments, the tested
checkpoint, the class of each prototype), ``test_results.json`` and the
run's checkpoints. :func:`export_model` reads them and writes the model
folder that :class:`speechbrain_protos.inference.PrototypeClassifier`
loads with ``from_hparams(source=<model folder>)``; its format (files,
version, model card) is :mod:`speechbrain_protos.model_folder`'s.

Authors
 * speechbrain-protos developers 2026
"""

import json
import logging
import os

from speechbrain_protos.model_folder import (
    CHECKPOINT_WEIGHTS_FILE,
    DEFAULT_LICENSE,
    MODEL_CONFIG_FILE,
    RESULTS_FILE,
    load_weights,
    write_model_folder,
)

logger = logging.getLogger(__name__)


class RunFolderError(FileNotFoundError):
    """A training run folder that lacks what export needs."""


def _read_json(path):
    with open(path, encoding="utf-8") as fin:
        return json.load(fin)


def check_run_folder(run_folder):
    """Finds the files of a finished run, or lists every one that is missing.

    Arguments
    ---------
    run_folder : str
        A recipe's output folder.

    Returns
    -------
    dict
        Paths of ``model_config``, ``test_results`` and ``checkpoint`` (the
        tested checkpoint's model weights).

    Example
    -------
    >>> check_run_folder(str(getfixture("tmpdir")))
    Traceback (most recent call last):
    ...
    speechbrain_protos.export.RunFolderError: ... missing: model_config.json, ...
    """
    run_folder = os.path.abspath(run_folder)
    if not os.path.isdir(run_folder):
        raise RunFolderError(f"training run folder {run_folder} does not exist")
    paths = {
        "model_config": os.path.join(run_folder, MODEL_CONFIG_FILE),
        "test_results": os.path.join(run_folder, RESULTS_FILE),
    }
    missing = [
        os.path.relpath(path, run_folder)
        for path in paths.values()
        if not os.path.isfile(path)
    ]
    checkpoint = None
    if os.path.isfile(paths["model_config"]):
        relative = _read_json(paths["model_config"]).get("checkpoint")
        if relative is None:
            missing.append(f"a tested checkpoint ({MODEL_CONFIG_FILE} names none)")
        else:
            checkpoint = os.path.join(run_folder, relative, CHECKPOINT_WEIGHTS_FILE)
            if not os.path.isfile(checkpoint):
                missing.append(os.path.join(relative, CHECKPOINT_WEIGHTS_FILE))
    if missing:
        raise RunFolderError(
            f"{run_folder} is not a finished training run; missing: "
            f"{', '.join(missing)}. Export needs a run that trained and "
            f"tested to the end (testing writes {MODEL_CONFIG_FILE} and "
            f"{RESULTS_FILE})."
        )
    paths["checkpoint"] = checkpoint
    return paths


def _count_clips(run_folder):
    counts = {}
    for split in ("train", "valid", "test"):
        path = os.path.join(run_folder, "save", f"{split}.json")
        if os.path.isfile(path):
            counts[split] = len(_read_json(path))
    return counts


def export_model(
    run_folder,
    model_folder,
    overwrite=False,
    license=DEFAULT_LICENSE,
    datasets=(),
    onnx=False,
):
    """Writes the self-contained model folder of a finished training run.

    Arguments
    ---------
    run_folder : str
        A recipe's output folder, after training and testing.
    model_folder : str
        Folder to write (atomically: see
        :func:`~speechbrain_protos.model_folder.write_model_folder`).
    overwrite : bool
        Replace an existing model folder.
    license : str
        The Hugging Face Hub license id the model card declares.
    datasets : sequence of str
        Hub ids of the training data, for the model card.
    onnx : bool
        Also write ``model.onnx`` (:mod:`speechbrain_protos.onnx_export`;
        needs the ``onnx`` package).

    Returns
    -------
    str
        The absolute path of the model folder.

    Example
    -------
    >>> export_model("no/such/run", str(getfixture("tmpdir")))
    Traceback (most recent call last):
    ...
    speechbrain_protos.export.RunFolderError: training run folder ... does not exist
    """
    paths = check_run_folder(run_folder)
    folder = write_model_folder(
        model_folder,
        _read_json(paths["model_config"]),
        load_weights(paths["checkpoint"]),
        results=_read_json(paths["test_results"]),
        clip_counts=_count_clips(os.path.abspath(run_folder)),
        overwrite=overwrite,
        license=license,
        datasets=datasets,
    )
    if onnx:
        from speechbrain_protos.onnx_export import export_onnx

        export_onnx(folder)
    logger.info("Exported %s to %s", os.path.abspath(run_folder), folder)
    return folder
