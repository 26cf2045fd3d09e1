"""A model folder's errors as an ONNX graph, for runtimes without PyTorch.

``model.onnx`` computes the reconstruction error of every clip by every
prototype, ``errors [B, K]``, from normalised log-mel features
``feats [B, T, n_mels]`` (what :class:`~speechbrain_protos.features.LogMel`
gives) and relative frame lengths ``lengths [B]`` in (0, 1] (what
:meth:`LogMel.frame_lengths <speechbrain_protos.features.LogMel.frame_lengths>`
gives). Batch and frame axes are dynamic. The lowest error is the decision;
the model's ``prototype_classes`` and class names are in the graph's
metadata, with the front end's settings.

The graph starts at features, not waveforms: torchaudio's front end runs
``torch.stft``, whose complex output PyTorch's TorchScript-based ONNX
exporter does not translate. Compute the log-mel with the front end's
settings (in the metadata), or with :class:`LogMel` where PyTorch is at hand.

The fused numba and Triton kernels cannot be traced; the graph uses the
reference formulation of the error, a chunk of prototypes at a time, so it
never holds more than ``[B, T, chunk, n_mels]`` floats of reconstructions.
A batch is encoded at the length of its longest clip, as in training: give
clips one at a time (or of equal length) for exactly the errors
``PrototypeClassifier`` gives.

Exporting needs the ``onnx`` package (``pip install onnx``); running the
graph needs an ONNX runtime, e.g. ``onnxruntime``.

Authors
 * speechbrain-protos developers 2026
"""

import copy
import io
import json
import os
import tempfile
import warnings

import torch
from torch import nn

from speechbrain_protos.environment import DependencyError
from speechbrain_protos.model_folder import ONNX_FILE
from speechbrain_protos.reconstruction import reference_errors
from speechbrain_protos.transforms import TransformParams

OPSET = 17
# Prototypes per chunk: at K 128 and 10 s (bench/onnx_bench.py --chunk N),
# 4 ran within 11% of the fastest chunk tried (2, of 1 to 128), and a run
# added about 11 MiB.
PROTOTYPE_CHUNK = 4


class ErrorGraph(nn.Module):
    """The computation ``model.onnx`` holds: errors from features.

    Arguments
    ---------
    model : PrototypeReconstructor
        A trained model (copied, in eval mode).
    prototype_chunk : int
        Prototypes reconstructed at a time.

    Example
    -------
    >>> from speechbrain_protos.lobes import PrototypeReconstructor
    >>> model = PrototypeReconstructor(3, n_mels=32, start_dim=4, n_pools=2).eval()
    >>> feats, lengths = torch.rand(2, 20, 32), torch.tensor([1.0, 0.6])
    >>> torch.allclose(ErrorGraph(model, 2)(feats, lengths), model(feats, lengths),
    ...                rtol=1e-4)
    True
    """

    def __init__(self, model, prototype_chunk=PROTOTYPE_CHUNK):
        super().__init__()
        self.model = copy.deepcopy(model).float().eval()
        self.active = self.model.active_transforms
        self.prototype_chunk = prototype_chunk

    def forward(self, feats, lengths):
        """Errors ``[B, K]`` of features ``[B, T, F]``, relative lengths ``[B]``."""
        model = self.model
        batch, n_frames = feats.shape[0], feats.shape[1]
        # lengths lie in (0, 1], so no count exceeds n_frames
        counts = torch.round(lengths * n_frames).long().clamp_min(1)
        params = TransformParams()
        if self.active:
            padded = model._encoder_frames(n_frames)
            decoded = model._decode(self.active, feats, counts, padded)
            params = model._transform_params(decoded, batch, n_frames)
        chunks = []
        for first in range(0, model.n_prototypes, self.prototype_chunk):
            chosen = slice(first, first + self.prototype_chunk)
            chunk_params = TransformParams(
                *(None if values is None else values[:, :, chosen] for values in params)
            )
            errors = reference_errors(
                feats, model.prototypes[chosen], chunk_params, model.transforms, counts
            )
            chunks.append(errors)
        return torch.cat(chunks, dim=1)


def graph_metadata(classifier):
    """What a runtime needs besides the graph: front end, classes (strings)."""
    features = classifier.mods.compute_features
    return {
        "speechbrain_protos.inputs": (
            "feats [B, T, n_mels]: normalised log-mel (speechbrain_protos LogMel); "
            "lengths [B]: relative frame lengths in (0, 1]"
        ),
        "speechbrain_protos.outputs": "errors [B, K]: lowest is the decision",
        "speechbrain_protos.front_end": json.dumps(features.config),
        "speechbrain_protos.class_names": json.dumps(classifier.class_names),
        "speechbrain_protos.prototype_classes": json.dumps(
            classifier.prototype_classes.tolist()
        ),
    }


def onnx_bytes(classifier, prototype_chunk=PROTOTYPE_CHUNK, opset=OPSET):
    """The serialised ONNX model of a loaded
    :class:`~speechbrain_protos.inference.PrototypeClassifier`."""
    try:
        import onnx
    except ImportError as error:
        raise DependencyError(
            "exporting to ONNX needs the onnx package: pip install onnx "
            "(or speechbrain-protos[onnx])"
        ) from error
    model = classifier.mods.model
    graph = ErrorGraph(model.cpu(), prototype_chunk)
    frames = 3 * 2**model.n_pools + 1  # no multiple of the pooling: general
    example = (torch.rand(2, frames, model.n_mels), torch.tensor([1.0, 0.5]))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python ints
        torch.onnx.export(
            graph,
            example,
            buffer,
            input_names=["feats", "lengths"],
            output_names=["errors"],
            dynamic_axes={
                "feats": {0: "batch", 1: "frames"},
                "lengths": {0: "batch"},
                "errors": {0: "batch"},
            },
            opset_version=opset,
            dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(proto, graph_metadata(classifier))
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def export_onnx(model_folder, path=None, prototype_chunk=PROTOTYPE_CHUNK):
    """Writes ``model.onnx`` for a model folder (atomically).

    Arguments
    ---------
    model_folder : str
        A model folder (loaded safely, as
        :meth:`~speechbrain_protos.inference.PrototypeClassifier.from_hparams`
        does).
    path : str, optional
        Where to write; default ``<model_folder>/model.onnx``.
    prototype_chunk : int
        Prototypes the graph reconstructs at a time (memory against speed).

    Returns
    -------
    str
        The path written.
    """
    from speechbrain_protos.inference import PrototypeClassifier

    classifier = PrototypeClassifier.from_hparams(source=model_folder)
    data = onnx_bytes(classifier, prototype_chunk)
    path = os.path.abspath(path or os.path.join(model_folder, ONNX_FILE))
    handle, partial = tempfile.mkstemp(
        prefix=".partial-", suffix=".onnx", dir=os.path.dirname(path)
    )
    try:
        with os.fdopen(handle, "wb") as fout:
            fout.write(data)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return path
