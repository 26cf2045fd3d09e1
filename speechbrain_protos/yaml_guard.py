"""A model folder is data: its ``hyperparams.yaml`` may not run code.

HyperPyYAML builds objects from tags: ``!new:`` and ``!name:`` call or name
any importable callable, ``!apply:`` calls one at load time, ``!module:``
imports any module and ``!include:`` reads another file. SpeechBrain's
``from_hparams`` hands a folder's YAML to it as it is, so a shared folder
whose YAML says ``!apply:os.system [...]`` runs that command on load.
:func:`check_inference_yaml` reads the YAML's tags without building
anything (PyYAML's ``compose``) and refuses every tag but the few an
inference YAML of this package needs, naming the line.

Authors
 * speechbrain-protos developers 2026
"""

import yaml

# What model folders' hyperparams.yaml builds, and nothing else (the
# Pretrainer: format 1, speechbrain_protos.model_folder).
ALLOWED_CALLABLES = frozenset(
    {
        "speechbrain_protos.features.LogMel",
        "speechbrain_protos.lobes.PrototypeReconstructor",
        "speechbrain.dataio.encoder.CategoricalEncoder",
        "speechbrain.dataio.preprocess.AudioNormalizer",
        "speechbrain.utils.parameter_transfer.Pretrainer",
    }
)
# HyperPyYAML's tags that build nothing: references, copies, tuples.
PLAIN_TAGS = frozenset({"!ref", "!copy", "!tuple"})
CALLING_PREFIXES = ("!new:", "!name:")
CORE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("map", "seq", "str", "int", "float", "bool", "null")
)


class UnsafeYamlError(ValueError):
    """A YAML file asks for something a model folder may not do."""


def _nodes(node):
    """Every node of a composed YAML document, depth first."""
    yield node
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _nodes(item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _nodes(key)
            yield from _nodes(value)


def _refusal(tag):
    """Why ``tag`` is refused, or None if it is allowed."""
    if tag in CORE_TAGS or tag in PLAIN_TAGS:
        return None
    for prefix in CALLING_PREFIXES:
        if tag.startswith(prefix):
            if tag[len(prefix) :] in ALLOWED_CALLABLES:
                return None
            return f"{tag} names a callable outside the allowed ones"
    return f"{tag} is not a tag an inference YAML needs"


def check_inference_yaml(path):
    """Raises :class:`UnsafeYamlError` unless every tag of the YAML file at
    ``path`` is one this package's inference YAML needs.

    Allowed: YAML's plain scalars, lists and maps; ``!ref``, ``!copy`` and
    ``!tuple``; ``!new:`` and ``!name:`` of :data:`ALLOWED_CALLABLES`.
    Nothing is imported or built while checking.

    Arguments
    ---------
    path : str
        The YAML file.

    Returns
    -------
    yaml.Node or None
        The composed document (None if empty), for reading plain values.

    Example
    -------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "hyperparams.yaml")
    >>> with open(path, "w") as fout:
    ...     _ = fout.write("rate: 16000\\nrun: !apply:os.system ['echo hi']\\n")
    >>> check_inference_yaml(path)
    Traceback (most recent call last):
    ...
    speechbrain_protos.yaml_guard.UnsafeYamlError: refusing ..., line 2: ...
    """
    with open(path, encoding="utf-8") as fin:
        try:
            document = yaml.compose(fin)
        except yaml.YAMLError as error:
            raise UnsafeYamlError(f"{path} is not valid YAML: {error}") from error
    if document is None:
        return None
    for node in _nodes(document):
        reason = _refusal(node.tag)
        if reason:
            raise UnsafeYamlError(
                f"refusing {path}, line {node.start_mark.line + 1}: {reason} "
                "(a model folder is data: its YAML may build only "
                f"{', '.join(sorted(ALLOWED_CALLABLES))}, with !ref, !copy, "
                "!tuple and plain values)"
            )
    return document
