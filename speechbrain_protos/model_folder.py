"""The model-folder format: its files, its version, its writer and its checks.

A model folder is what :class:`~speechbrain_protos.inference.PrototypeClassifier`
loads, what ``speechbrain-protos export`` writes and what a user shares (a
folder, or a Hugging Face repository)::

    <model folder>/
      hyperparams.yaml      inference YAML: front end, model arguments, the
                            class of each prototype, the format version
      model.safetensors     PrototypeReconstructor weights, with the running
                            means of its transformations ("typical" values)
      label_encoder.txt     the classes, in SpeechBrain's text format
      test_results.json     the run's test scores (optional)
      README.md             model card, with the Hugging Face Hub's front matter
      model.onnx            the errors as an ONNX graph (optional; written by
                            speechbrain_protos.onnx_export)

Nothing in it names an absolute path, and nothing in it is code: the YAML
may build only this package's inference objects (:mod:`~speechbrain_protos.
yaml_guard`), and safetensors hold tensors only. Folders of format 1,
written before safetensors (``model.ckpt``, a torch pickle, and
``label_encoder.ckpt``), still load; their weights are read with torch's
tensors-only unpickler.

:func:`write_model_folder` writes a folder atomically: into a hidden sibling
first, renamed into place once complete, so an interrupted write leaves the
old folder (or none), never a mix. The inference YAML and the model card are
filled from templates shipped in ``speechbrain_protos/templates``.

Authors
 * speechbrain-protos developers 2026
"""

import ast
import datetime
import errno
import glob
import importlib.resources
import json
import logging
import os
import pickle
import shutil
import string
import tempfile
from typing import NamedTuple

import safetensors
import safetensors.torch
import torch
import yaml

from speechbrain_protos.yaml_guard import check_inference_yaml

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
HPARAMS_FILE = "hyperparams.yaml"
WEIGHTS_FILE = "model.safetensors"
LABELS_FILE = "label_encoder.txt"
RESULTS_FILE = "test_results.json"
CARD_FILE = "README.md"
ONNX_FILE = "model.onnx"  # optional: speechbrain_protos.onnx_export
# Format 1 (before safetensors): a torch pickle and the same labels.
LEGACY_WEIGHTS_FILE = "model.ckpt"
LEGACY_LABELS_FILE = "label_encoder.ckpt"
MODEL_FILES = (
    HPARAMS_FILE,
    WEIGHTS_FILE,
    LABELS_FILE,
    RESULTS_FILE,
    CARD_FILE,
    ONNX_FILE,
)
# What a training run hands to export (a run writes it after testing), and
# the model's file in each of the run's SpeechBrain checkpoints (the
# Checkpointer names it after the recoverable, "model").
MODEL_CONFIG_FILE = "model_config.json"
CHECKPOINT_WEIGHTS_FILE = "model.ckpt"
# The license the card declares unless told otherwise: the library's.
DEFAULT_LICENSE = "apache-2.0"
# What torch.load(weights_only=True) raises on a damaged or unsafe file.
TORCH_LOAD_ERRORS = (
    pickle.UnpicklingError,
    RuntimeError,
    EOFError,
    ValueError,
    OSError,
)
PARTIAL_PREFIX = ".partial-"  # a folder being written: .partial-<name>-XXXX
REPLACED_PREFIX = ".replaced-"  # the old folder, while the new one moves in


class ModelFolderError(FileNotFoundError):
    """A model folder that is missing, incomplete, damaged or does not fit
    its YAML."""


class ModelFiles(NamedTuple):
    """The files of a checked model folder (absolute paths)."""

    folder: str
    hparams: str
    weights: str
    labels: str
    version: int


def model_config(
    compute_features,
    model,
    class_names,
    prototype_classes=None,
    mode="supervised",
    checkpoint=None,
):
    """Everything but the weights that rebuilds a model (JSON-ready).

    A training run writes it as ``model_config.json``;
    :func:`write_model_folder` turns it into ``hyperparams.yaml`` and
    ``label_encoder.txt``.

    Arguments
    ---------
    compute_features : LogMel
        The front end.
    model : PrototypeReconstructor
        The model.
    class_names : list of str
        Class names, in label-encoder order.
    prototype_classes : list of int, optional
        Class of each prototype (-1: none); default prototype k is class k.
    mode : str
        ``"supervised"`` or ``"unsupervised"``.
    checkpoint : str, optional
        The tested checkpoint folder, relative to the run folder.

    Returns
    -------
    dict
        ``mode``, ``compute_features`` and ``model`` (constructor
        arguments), ``class_names``, ``prototype_classes``, ``checkpoint``.

    Example
    -------
    >>> from speechbrain_protos.features import LogMel
    >>> from speechbrain_protos.lobes import PrototypeReconstructor
    >>> model = PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2,
    ...                                active_transforms=["gain"])
    >>> config = model_config(LogMel(n_mels=32), model, ["a", "b"])
    >>> config["model"]["active_transforms"], config["prototype_classes"]
    (['gain'], [0, 1])
    """
    if prototype_classes is None:
        prototype_classes = list(range(model.n_prototypes))
    return {
        "mode": mode,
        "compute_features": compute_features.config,
        "model": model.config,
        "class_names": list(class_names),
        "prototype_classes": [int(c) for c in prototype_classes],
        "checkpoint": checkpoint,
    }


# ----------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------
def _template(name):
    """A template of ``speechbrain_protos/templates``."""
    text = importlib.resources.files("speechbrain_protos").joinpath("templates", name)
    return string.Template(text.read_text(encoding="utf-8"))


def _yaml_scalar(value):
    """One value as YAML (flow style, via JSON, which YAML 1.2 reads)."""
    return json.dumps(value)


def _yaml_arguments(mapping, indent=4):
    """Constructor arguments as an indented YAML block, one per line."""
    for key in mapping:
        if not str(key).isidentifier():
            raise ValueError(f"{MODEL_CONFIG_FILE}: {key!r} is not an argument name")
    pad = " " * indent
    return "\n".join(
        f"{pad}{key}: {_yaml_scalar(value)}" for key, value in mapping.items()
    )


def inference_yaml(config, source_note=""):
    """The inference ``hyperparams.yaml`` text of a model.

    Every value goes through a JSON dumper and every key must be an
    argument name, so no string of ``config`` can add a YAML tag.

    Arguments
    ---------
    config : dict
        See :func:`model_config`.
    source_note : str
        A line for the header (e.g. what it was exported from).

    Returns
    -------
    str
        HyperPyYAML text; loads with the ``model.safetensors`` and
        ``label_encoder.txt`` beside it.

    Example
    -------
    >>> from speechbrain_protos.features import LogMel
    >>> from speechbrain_protos.lobes import PrototypeReconstructor
    >>> config = model_config(LogMel(n_mels=32), PrototypeReconstructor(
    ...     2, n_mels=32, start_dim=4, n_pools=2), ["a", "b"])
    >>> config["mode"] = "x\\n!apply:os.system ['touch pwned']"
    >>> for line in inference_yaml(config).splitlines():
    ...     if line.startswith("mode:"):
    ...         print(line)
    mode: "x\\n!apply:os.system ['touch pwned']"  # supervised: prototype k is class k
    """
    features = config["compute_features"]
    return _template("hyperparams.yaml").substitute(
        source_note=" ".join(str(source_note).splitlines()),
        format_version=FORMAT_VERSION,
        labels_file=LABELS_FILE,
        sample_rate=_yaml_scalar(features["sample_rate"]),
        mode=_yaml_scalar(config["mode"]),
        prototype_classes=_yaml_scalar(config["prototype_classes"]),
        compute_features=_yaml_arguments(features),
        model=_yaml_arguments(config["model"]),
    )


def card_metadata(config, results, model_name, license=DEFAULT_LICENSE, datasets=()):
    """The Hugging Face Hub front matter of a model card (a dict).

    ``library_name``, ``license``, ``tags``, ``pipeline_tag``,
    ``datasets`` (Hub ids, when given), ``metrics`` and, when the model was
    tested, a ``model-index`` with its overall and average accuracy (%).

    Example
    -------
    >>> meta = card_metadata({"mode": "supervised"}, {"OA": 91.5, "AA": 90.0},
    ...                      "speakers", datasets=["openslr/librispeech_asr"])
    >>> meta["pipeline_tag"], meta["model-index"][0]["results"][0]["metrics"][0]
    ('audio-classification', {'type': 'accuracy', 'value': 91.5, 'name': 'OA (%)'})
    """
    meta = {
        "library_name": "speechbrain",
        "license": license,
        "tags": [
            "speechbrain",
            "speechbrain-protos",
            "audio-classification",
            "playable-prototypes",
            "interpretable",
            config["mode"],
        ],
        "pipeline_tag": "audio-classification",
    }
    if datasets:
        meta["datasets"] = list(datasets)
    results = results or {}
    if "OA" in results:
        meta["metrics"] = ["accuracy"]
        dataset = {
            "name": datasets[0] if datasets else "test split of the training data",
            "type": datasets[0] if datasets else "custom",
        }
        meta["model-index"] = [
            {
                "name": model_name,
                "results": [
                    {
                        "task": {"type": "audio-classification"},
                        "dataset": dataset,
                        "metrics": [
                            {
                                "type": "accuracy",
                                "value": round(results[key], 2),
                                "name": f"{key} (%)",
                            }
                            for key in ("OA", "AA")
                        ],
                    }
                ],
            }
        ]
    return meta


def model_card(
    config,
    results,
    clip_counts,
    model_name,
    license=DEFAULT_LICENSE,
    datasets=(),
):
    """The model folder's ``README.md``: Hub front matter, then Markdown.

    Arguments
    ---------
    config : dict
        See :func:`model_config`.
    results : dict or None
        The run's ``test_results.json``.
    clip_counts : dict
        Clips per split, e.g. ``{"train": 1209, "valid": 168, "test": 381}``.
    model_name : str
        Name shown in the title (the folder name).
    license : str
        The Hub's license id of the weights (they inherit the terms of
        the training data; choose accordingly).
    datasets : sequence of str
        Hub ids of the training data, if it is on the Hub.

    Returns
    -------
    str
        The model card.
    """
    features = config["compute_features"]
    model = config["model"]
    results = results or {}
    checkpoint = results.get("checkpoint") or {}
    per_class = "\n".join(
        f"| {name} | {entry['clips']} | "
        f"{'-' if entry['accuracy'] is None else format(entry['accuracy'], '.1f')} |"
        for name, entry in results.get("per_class", {}).items()
    )
    if "OA" in results:
        scores = (
            "| OA (%) | AA (%) | L_rec (1e3 x MSE per bin) | clips |\n"
            "|---|---|---|---|\n"
            f"| {results['OA']:.1f} | {results['AA']:.1f} | {results['L_rec']:.2f} "
            f"| {results.get('n_clips')} |\n\n"
            "| class | test clips | accuracy (%) |\n|---|---|---|\n" + per_class
        )
    else:
        scores = "Not tested."
    front_matter = yaml.safe_dump(
        card_metadata(config, results, model_name, license, datasets),
        sort_keys=False,
        allow_unicode=True,
    )
    return _template("model_card.md").substitute(
        front_matter=front_matter.rstrip("\n"),
        model_name=model_name,
        n_classes=len(config["class_names"]),
        n_prototypes=model["n_prototypes"],
        mode=config["mode"],
        classes=", ".join(config["class_names"]),
        splits=", ".join(f"{n} {split}" for split, n in clip_counts.items())
        or "not recorded",
        sample_rate=features["sample_rate"],
        n_fft=features["n_fft"],
        hop_length=features["hop_length"],
        n_mels=features["n_mels"],
        transforms=", ".join(model["active_transforms"]) or "none",
        pitch_warp=model["pitch_warp"],
        filter_shape=model["filter_shape"],
        epoch=checkpoint.get("epoch", "-"),
        stage=checkpoint.get("stage", "-"),
        scores=scores,
        hparams_file=HPARAMS_FILE,
        weights_file=WEIGHTS_FILE,
        labels_file=LABELS_FILE,
        results_file=RESULTS_FILE,
    )


def labels_text(class_names):
    """``label_encoder.txt``: SpeechBrain's text format of a label encoder.

    Example
    -------
    >>> print(labels_text(["cello", "flute"]), end="")
    'cello' => 0
    'flute' => 1
    ================
    'starting_index' => 0
    """
    names = [str(name) for name in class_names]
    if len(set(names)) != len(names):
        raise ValueError(f"class names must be distinct; got {names}")
    lines = [f"{name!r} => {index}" for index, name in enumerate(names)]
    return "\n".join(lines + ["=" * 16, "'starting_index' => 0"]) + "\n"


def _contents(config, state_dict, results, clip_counts, name, license, datasets):
    """File name -> bytes of a model folder."""
    date = datetime.date.today().isoformat()
    texts = {
        HPARAMS_FILE: inference_yaml(
            config, f"Exported by speechbrain_protos on {date}"
        ),
        LABELS_FILE: labels_text(config["class_names"]),
        CARD_FILE: model_card(
            config, results, clip_counts or {}, name, license, datasets
        ),
    }
    if results is not None:
        texts[RESULTS_FILE] = json.dumps(results, indent=1) + "\n"
    contents = {file_name: text.encode("utf-8") for file_name, text in texts.items()}
    weights = {
        key: value.detach().to("cpu").contiguous() for key, value in state_dict.items()
    }
    contents[WEIGHTS_FILE] = safetensors.torch.save(
        weights, metadata={"format": "pt", "format_version": str(FORMAT_VERSION)}
    )
    return contents


def _out_of_space(error, folder):
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return ModelFolderError(
            f"no space left to write the model folder {folder} "
            f"({error.strerror}); nothing there was changed"
        )
    return None


def write_model_folder(
    model_folder,
    config,
    state_dict,
    results=None,
    clip_counts=None,
    overwrite=False,
    license=DEFAULT_LICENSE,
    datasets=(),
):
    """Writes a model folder from a configuration and weights, atomically.

    The files go to a hidden sibling (``.partial-<name>-XXXX``), which is
    renamed into place once every file is on disk. Replacing a folder
    renames the old one aside first and deletes it last, so a write that
    is interrupted or runs out of space leaves the old folder intact (or,
    between the two renames, the old one beside the path and the new one
    complete); never a mix of both.

    Arguments
    ---------
    model_folder : str
        Folder to write.
    config : dict
        See :func:`model_config`.
    state_dict : dict
        The model's weights and buffers.
    results : dict, optional
        Test scores (``OA``, ``AA``, ``L_rec``, ``per_class``...) for the card.
    clip_counts : dict, optional
        Clips per split, for the card.
    overwrite : bool
        Replace an existing model folder. A folder that holds anything but
        a model folder's files is never replaced.
    license : str
        The Hub license id the card declares (default: the library's).
    datasets : sequence of str
        Hub ids of the training data, for the card.

    Returns
    -------
    str
        The absolute path of the model folder.

    Example
    -------
    >>> from speechbrain_protos.features import LogMel
    >>> from speechbrain_protos.lobes import PrototypeReconstructor
    >>> logmel = LogMel(n_fft=512, hop_length=256, n_mels=32)
    >>> model = PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2)
    >>> folder = write_model_folder(str(getfixture("tmpdir") / "m"),
    ...     model_config(logmel, model, ["cello", "flute"]), model.state_dict())
    >>> sorted(os.listdir(folder))
    ['README.md', 'hyperparams.yaml', 'label_encoder.txt', 'model.safetensors']
    """
    model_folder = os.path.abspath(os.fspath(model_folder))
    name = os.path.basename(model_folder)
    parent = os.path.dirname(model_folder)
    if os.path.exists(model_folder):
        if not os.path.isdir(model_folder):
            raise FileExistsError(f"{model_folder} exists and is not a folder")
        _check_replaceable(model_folder, overwrite)
    os.makedirs(parent, exist_ok=True)
    for leftover in _leftovers(model_folder):
        logger.warning("an interrupted write left %s; delete it", leftover)
    contents = _contents(
        config, state_dict, results, clip_counts, name, license, datasets
    )
    partial = tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{name}-", dir=parent)
    try:
        for file_name, data in contents.items():
            with open(os.path.join(partial, file_name), "wb") as fout:
                fout.write(data)
                fout.flush()
                os.fsync(fout.fileno())
        os.chmod(partial, 0o755)
        check_inference_yaml(os.path.join(partial, HPARAMS_FILE))
        _move_into_place(partial, model_folder)
    except BaseException as error:
        shutil.rmtree(partial, ignore_errors=True)
        full = _out_of_space(error, model_folder)
        if full is not None:
            raise full from error
        raise
    return model_folder


def _check_replaceable(model_folder, overwrite):
    entries = sorted(os.listdir(model_folder))
    if not entries:
        return
    known = set(MODEL_FILES) | {LEGACY_WEIGHTS_FILE, LEGACY_LABELS_FILE}
    others = [entry for entry in entries if entry not in known]
    if others:
        raise FileExistsError(
            f"{model_folder} holds files that are not a model folder's "
            f"({', '.join(others)}); choose an empty or new folder"
        )
    if not overwrite:
        raise FileExistsError(
            f"{model_folder} already holds a model ({', '.join(entries)}); "
            "pass overwrite=True (--overwrite) to replace it"
        )


def _move_into_place(partial, model_folder):
    name = os.path.basename(model_folder)
    parent = os.path.dirname(model_folder)
    if not os.path.exists(model_folder):
        os.rename(partial, model_folder)
        return
    replaced = tempfile.mkdtemp(prefix=f"{REPLACED_PREFIX}{name}-", dir=parent)
    os.rmdir(replaced)  # a free name beside the folder
    os.rename(model_folder, replaced)
    os.rename(partial, model_folder)
    shutil.rmtree(replaced, ignore_errors=True)


# ----------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------
def _first_present(folder, names):
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def _leftovers(folder):
    """Hidden siblings an interrupted write left beside ``folder``."""
    parent, name = os.path.split(folder)
    return sorted(
        path
        for prefix in (PARTIAL_PREFIX, REPLACED_PREFIX)
        for path in glob.glob(os.path.join(parent, f"{prefix}{glob.escape(name)}-*"))
    )


def _format_version(document, path):
    """``format_version`` of a composed inference YAML (1 when absent)."""
    if document is not None and isinstance(document, yaml.MappingNode):
        for key, value in document.value:
            if key.value == "format_version":
                try:
                    return int(value.value)
                except (TypeError, ValueError):
                    break
        else:
            return 1
    raise ModelFolderError(f"{path}: format_version must be an integer")


def check_model_folder(source, hparams_file=HPARAMS_FILE):
    """The files of a complete model folder, or an error naming what is wrong.

    A ``source`` that is not a folder is never looked up on a model hub.
    The YAML is checked for tags that would run code
    (:func:`~speechbrain_protos.yaml_guard.check_inference_yaml`) and for a
    format this version can read.

    Returns
    -------
    ModelFiles

    Example
    -------
    >>> check_model_folder("no/such/folder")
    Traceback (most recent call last):
    ...
    speechbrain_protos.model_folder.ModelFolderError: ... does not exist ...
    """
    folder = os.path.abspath(os.fspath(source))
    if not os.path.isdir(folder):
        leftovers = _leftovers(folder)
        hint = (
            f"; an interrupted write left {', '.join(leftovers)} (a complete "
            "folder can be renamed back)"
            if leftovers
            else ""
        )
        raise ModelFolderError(
            f"model folder {folder} does not exist (PrototypeClassifier loads "
            "local folders written by `speechbrain-protos export`; download a "
            f"Hub repository first){hint}"
        )
    hparams = os.path.join(folder, hparams_file)
    weights = _first_present(folder, (WEIGHTS_FILE, LEGACY_WEIGHTS_FILE))
    labels = _first_present(folder, (LABELS_FILE, LEGACY_LABELS_FILE))
    missing = [hparams_file] if not os.path.isfile(hparams) else []
    if weights is None:
        missing.append(WEIGHTS_FILE)
    if labels is None:
        missing.append(LABELS_FILE)
    if missing:
        raise ModelFolderError(
            f"model folder {folder} is incomplete; missing: {', '.join(missing)}"
        )
    version = _format_version(check_inference_yaml(hparams), hparams)
    if version > FORMAT_VERSION:
        raise ModelFolderError(
            f"{hparams} is model-folder format {version}; this speechbrain-protos "
            f"reads formats up to {FORMAT_VERSION}: upgrade it"
        )
    return ModelFiles(folder, hparams, weights, labels, version)


def load_weights(path):
    """The state dict in a weights file: tensors only, all finite.

    A safetensors file holds tensors and nothing else; a torch file (told
    apart by its first bytes, whatever its name), such as a format-1
    ``model.ckpt`` or a training checkpoint's, is read with
    ``torch.load(weights_only=True)``, which refuses a pickle that would
    build anything but tensors and plain containers (code, in a file made
    to look like weights), whatever the environment says.

    Example
    -------
    >>> path = os.path.join(tempfile.mkdtemp(), "model.ckpt")
    >>> torch.save({"w": torch.tensor([1.0, float("nan")])}, path)
    >>> load_weights(path)
    Traceback (most recent call last):
    ...
    speechbrain_protos.model_folder.ModelFolderError: ... holds non-finite values in w
    """
    if not _is_torch_file(path):
        try:
            state = safetensors.torch.load_file(path, device="cpu")
        except (safetensors.SafetensorError, OSError, ValueError) as error:
            raise ModelFolderError(
                f"{path} is not a readable safetensors file: {error}"
            ) from error
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except TORCH_LOAD_ERRORS as error:
            first_line = str(error).strip().splitlines()[0] if str(error) else ""
            raise ModelFolderError(
                f"{path} is not a checkpoint of plain tensors (it asks to build "
                f"other objects, which could run code, or it is damaged): "
                f"{first_line}"
            ) from error
    if not isinstance(state, dict) or not all(
        isinstance(value, torch.Tensor) for value in state.values()
    ):
        raise ModelFolderError(f"{path} holds no state dict of tensors")
    broken = [
        name
        for name, value in state.items()
        if value.is_floating_point() and not torch.isfinite(value).all()
    ]
    if broken:
        raise ModelFolderError(f"{path} holds non-finite values in {', '.join(broken)}")
    return state


def _is_torch_file(path):
    """Whether ``path`` starts like torch.save's output (a zip archive, or a
    pickle of torch's legacy format) rather than like a safetensors file
    (an 8-byte header length)."""
    try:
        with open(path, "rb") as fin:
            head = fin.read(2)
    except OSError as error:
        raise ModelFolderError(f"cannot read {path}: {error.strerror}") from error
    return head == b"PK" or head[:1] == b"\x80"


def load_into(module, path):
    """Loads a weights file into ``module``, strictly (a ``Pretrainer`` hook).

    The file is read by :func:`load_weights` and must hold exactly the
    module's parameters and buffers, with their shapes. In a SpeechBrain
    YAML: ``custom_hooks: {lobe: !name:speechbrain_protos.model_folder.load_into}``.

    Example
    -------
    >>> path = os.path.join(tempfile.mkdtemp(), "lobe.ckpt")
    >>> safetensors.torch.save_file({"weight": torch.ones(3, 2)}, path)
    >>> load_into(torch.nn.Linear(2, 3), path)
    Traceback (most recent call last):
    ...
    speechbrain_protos.model_folder.ModelFolderError: ...: missing bias
    """
    state = load_weights(path)
    check_state_dict(module, state, path)
    module.load_state_dict(state, strict=True)


def load_labels(path):
    """Class names, in index order, from a label file; strictly.

    Every line must be ``'<label>' => <index>`` (SpeechBrain's format,
    read as Python literals, never run), the indices must run 0..n-1 once
    each and the labels be distinct.

    Example
    -------
    >>> path = os.path.join(tempfile.mkdtemp(), "label_encoder.txt")
    >>> with open(path, "w") as fout:
    ...     _ = fout.write(labels_text(["cello", "flute"]))
    >>> load_labels(path)
    ['cello', 'flute']
    >>> with open(path, "w") as fout:
    ...     _ = fout.write("'cello' => 0\\n'flute' => 0\\n")
    >>> load_labels(path)
    Traceback (most recent call last):
    ...
    speechbrain_protos.model_folder.ModelFolderError: ..., line 2: index 0 is taken
    """
    labels = {}
    with open(path, encoding="utf-8") as fin:
        lines = fin.read().splitlines()
    for number, line in enumerate(lines, start=1):
        if line.startswith("====="):
            break  # SpeechBrain's extras (starting_index) follow
        label, sep, index = line.rpartition(" => ")
        try:
            label, index = ast.literal_eval(label), ast.literal_eval(index)
        except (ValueError, SyntaxError) as error:
            raise ModelFolderError(
                f"{path}, line {number} is not 'label' => index: {line!r}"
            ) from error
        if not sep or not isinstance(label, str) or not isinstance(index, int):
            raise ModelFolderError(
                f"{path}, line {number} is not 'label' => index: {line!r}"
            )
        if index in labels:
            raise ModelFolderError(f"{path}, line {number}: index {index} is taken")
        labels[index] = label
    if sorted(labels) != list(range(len(labels))) or not labels:
        raise ModelFolderError(
            f"{path}: label indices must be 0..n-1, each once; got {sorted(labels)}"
        )
    names = [labels[index] for index in range(len(labels))]
    if len(set(names)) != len(names):
        raise ModelFolderError(f"{path}: labels must be distinct; got {names}")
    return names


def check_state_dict(module, state, path):
    """Raises unless ``state`` has exactly ``module``'s entries and shapes.

    A model with random weights must never pass for a trained one.

    Example
    -------
    >>> check_state_dict(torch.nn.Linear(2, 3), {"weight": torch.zeros(3, 2)},
    ...                  "model.safetensors")
    Traceback (most recent call last):
    ...
    speechbrain_protos.model_folder.ModelFolderError: ...: missing bias
    """
    expected = module.state_dict()
    problems = []
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected " + ", ".join(unexpected))
    problems.extend(
        f"{key} has shape {list(state[key].shape)}, expected {list(value.shape)}"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    )
    if problems:
        raise ModelFolderError(
            f"{path} does not fit the model of its {HPARAMS_FILE}: "
            + "; ".join(problems)
        )
