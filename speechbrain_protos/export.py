"""Turns a finished training run into a self-contained model folder.

A run folder (a recipe's ``output_folder`` after training and testing)
holds ``model_config.json`` (front end, model arguments, the tested
checkpoint, the class of each prototype) and ``test_results.json``.
:func:`export_model` writes::

    <model folder>/
      hyperparams.yaml      inference YAML (no data paths, no optimiser)
      model.ckpt            PrototypeReconstructor weights, with the running
                            means of its transformations ("typical" values)
      label_encoder.ckpt    the classes, in SpeechBrain's text format
      test_results.json     the run's test scores
      README.md             model card: data, configuration, scores, usage

which :class:`speechbrain_protos.inference.PrototypeClassifier` loads with
``from_hparams(source=<model folder>)``. Nothing in it names an absolute
path, so it can be moved, copied or uploaded as it is.
:func:`write_model_folder` writes the same folder from a model in memory
(one built and trained in plain PyTorch, say).

Authors
 * speechbrain-protos developers 2026
"""

import datetime
import json
import logging
import os

import torch
from speechbrain.dataio.encoder import CategoricalEncoder

logger = logging.getLogger(__name__)

MODEL_FILES = ("hyperparams.yaml", "model.ckpt", "label_encoder.ckpt")
MODEL_CONFIG_FILE = "model_config.json"  # a run writes it after testing


def model_config(
    compute_features,
    model,
    class_names,
    prototype_classes=None,
    mode="supervised",
    checkpoint=None,
):
    """Everything but the weights that rebuilds a model (JSON-ready).

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
        tested checkpoint's ``model.ckpt``).

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
        "test_results": os.path.join(run_folder, "test_results.json"),
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
            missing.append("a tested checkpoint (model_config.json names none)")
        else:
            checkpoint = os.path.join(run_folder, relative, "model.ckpt")
            if not os.path.isfile(checkpoint):
                missing.append(os.path.join(relative, "model.ckpt"))
    if missing:
        raise RunFolderError(
            f"{run_folder} is not a finished training run; missing: "
            f"{', '.join(missing)}. Export needs a run that trained and "
            "tested to the end (testing writes model_config.json and "
            "test_results.json)."
        )
    paths["checkpoint"] = checkpoint
    return paths


def _yaml_value(value):
    return json.dumps(value)  # JSON is YAML


def _yaml_block(mapping, indent=4):
    pad = " " * indent
    for key in mapping:
        if not str(key).isidentifier():
            raise ValueError(f"model_config.json: {key!r} is not an argument name")
    return "\n".join(
        f"{pad}{key}: {_yaml_value(value)}" for key, value in mapping.items()
    )


def inference_yaml(config, source_note=""):
    """The inference ``hyperparams.yaml`` text of a model.

    Arguments
    ---------
    config : dict
        The content of a run's ``model_config.json``.
    source_note : str
        A line for the header (e.g. what it was exported from).

    Returns
    -------
    str
        HyperPyYAML text; loads with the ``model.ckpt`` and
        ``label_encoder.ckpt`` beside it.
    """
    features = config["compute_features"]
    return f"""# #####################################################################
# Playable-prototype model: inference hyperparameters. Load it with
# speechbrain_protos.inference.PrototypeClassifier.from_hparams(source=...)
# {" ".join(source_note.splitlines())}
# #####################################################################

sample_rate: {features["sample_rate"]}
mode: {_yaml_value(config["mode"])}  # supervised: prototype k is class k
# Class index (in label_encoder.ckpt) of each prototype; -1: a cluster no
# training clip chose, never predicted.
prototype_classes: {_yaml_value(config["prototype_classes"])}

compute_features: !new:speechbrain_protos.features.LogMel
{_yaml_block(features)}

model: !new:speechbrain_protos.lobes.PrototypeReconstructor
{_yaml_block(config["model"])}

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

# SpeechBrain's load_audio resamples to this rate (its default is 16 kHz).
audio_normalizer: !new:speechbrain.dataio.preprocess.AudioNormalizer
    sample_rate: !ref <sample_rate>

modules:
    compute_features: !ref <compute_features>
    model: !ref <model>

# Each loadable is <source>/<name>.ckpt; PrototypeClassifier then checks
# model.ckpt strictly (every parameter present, every shape right).
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        model: !ref <model>
        label_encoder: !ref <label_encoder>
"""


def _count_clips(run_folder):
    counts = {}
    for split in ("train", "valid", "test"):
        path = os.path.join(run_folder, "save", f"{split}.json")
        if os.path.isfile(path):
            counts[split] = len(_read_json(path))
    return counts


def model_card(config, results, clip_counts, model_name):
    """The model folder's ``README.md`` (Markdown).

    Arguments
    ---------
    config : dict
        The run's ``model_config.json``.
    results : dict
        The run's ``test_results.json``.
    clip_counts : dict
        Clips per split, e.g. ``{"train": 1209, "valid": 168, "test": 381}``.
    model_name : str
        Name shown in the title (the folder name).

    Returns
    -------
    str
        The model card.
    """
    features = config["compute_features"]
    model = config["model"]
    classes = config["class_names"]
    results = results or {}
    checkpoint = results.get("checkpoint") or {}
    splits = ", ".join(f"{n} {split}" for split, n in clip_counts.items())
    per_class = "\n".join(
        f"| {name} | {entry['clips']} | "
        f"{'-' if entry['accuracy'] is None else format(entry['accuracy'], '.1f')} |"
        for name, entry in results.get("per_class", {}).items()
    )
    transforms = ", ".join(model["active_transforms"]) or "none"
    if "OA" in results:
        scores = (
            "| OA (%) | AA (%) | L_rec (1e3 x MSE per bin) | clips |\n"
            "|---|---|---|---|\n"
            f"| {results['OA']:.1f} | {results['AA']:.1f} | {results['L_rec']:.2f} "
            f"| {results.get('n_clips')} |"
        )
    else:
        scores = "Not tested."
    return f"""# {model_name}: playable prototypes

An audio identifier of {len(classes)} classes with {model["n_prototypes"]}
playable prototypes ({config["mode"]}), trained with
[speechbrain-protos](https://github.com/speechbrain-protos) after *A Model You
Can Hear: Audio Identification with Playable Prototypes* (Loiseau et al.,
ISMIR 2022). Every decision is the prototype that reconstructs the input
best, and every prototype can be played.

## Data

Classes: {", ".join(classes)}.
Clips: {splits or "not recorded"}.

## Configuration

- Front end: log-mel, {features["sample_rate"]} Hz, n_fft {features["n_fft"]},
  hop {features["hop_length"]}, {features["n_mels"]} mels, normalised to [0, 1].
- Transformations: {transforms} (pitch warp: {model["pitch_warp"]},
  filter shape: {model["filter_shape"]}).
- Checkpoint: epoch {checkpoint.get("epoch", "-")}, curriculum stage
  {checkpoint.get("stage", "-")}.

## Test results

{scores}

| class | test clips | accuracy (%) |
|---|---|---|
{per_class}

## Use

```python
from speechbrain_protos.inference import PrototypeClassifier

model = PrototypeClassifier.from_hparams(source="path/to/{model_name}")
out_prob, score, index, text_lab = model.classify_file("note.wav")
wav, rate = model.render_prototype(text_lab[0], pitch=2.0, path="octave_up.wav")
```

or from a shell:

```
python -m speechbrain_protos classify path/to/{model_name} note.wav
python -m speechbrain_protos render path/to/{model_name} --out prototypes/
python -m speechbrain_protos gallery path/to/{model_name} --out gallery/
```

Files: `hyperparams.yaml` (inference configuration), `model.ckpt` (weights,
with the running means of the transformations), `label_encoder.ckpt`,
`test_results.json`.
"""


def write_model_folder(
    model_folder, config, state_dict, results=None, clip_counts=None, overwrite=False
):
    """Writes a model folder from a configuration and weights.

    Arguments
    ---------
    model_folder : str
        Folder to write (created).
    config : dict
        See :func:`model_config`.
    state_dict : dict
        The model's weights and buffers.
    results : dict, optional
        Test scores (``OA``, ``AA``, ``L_rec``, ``per_class``...) for the card.
    clip_counts : dict, optional
        Clips per split, for the card.
    overwrite : bool
        Replace the model files of an existing model folder.

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
    ['README.md', 'hyperparams.yaml', 'label_encoder.ckpt', 'model.ckpt']
    """
    model_folder = os.path.abspath(model_folder)
    existing = [
        name for name in MODEL_FILES if os.path.exists(os.path.join(model_folder, name))
    ]
    if existing and not overwrite:
        raise FileExistsError(
            f"{model_folder} already holds a model ({', '.join(existing)}); "
            "pass overwrite=True (--overwrite) to replace it"
        )
    os.makedirs(model_folder, exist_ok=True)
    date = datetime.date.today().isoformat()
    name = os.path.basename(model_folder)
    files = {
        "hyperparams.yaml": inference_yaml(
            config, f"Exported by speechbrain_protos.export on {date}"
        ),
        "README.md": model_card(config, results, clip_counts or {}, name),
    }
    if results is not None:
        files["test_results.json"] = json.dumps(results, indent=1) + "\n"
    for file_name, text in files.items():
        with open(os.path.join(model_folder, file_name), "w", encoding="utf-8") as fout:
            fout.write(text)
    torch.save(state_dict, os.path.join(model_folder, "model.ckpt"))
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(config["class_names"])
    encoder.save(os.path.join(model_folder, "label_encoder.ckpt"))
    return model_folder


def export_model(run_folder, model_folder, overwrite=False):
    """Writes the self-contained model folder of a finished training run.

    Arguments
    ---------
    run_folder : str
        A recipe's output folder, after training and testing.
    model_folder : str
        Folder to write (created).
    overwrite : bool
        Replace the model files of an existing model folder.

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
    state = torch.load(paths["checkpoint"], map_location="cpu", weights_only=True)
    folder = write_model_folder(
        model_folder,
        _read_json(paths["model_config"]),
        state,
        results=_read_json(paths["test_results"]),
        clip_counts=_count_clips(os.path.abspath(run_folder)),
        overwrite=overwrite,
    )
    logger.info("Exported %s to %s", os.path.abspath(run_folder), folder)
    return folder
