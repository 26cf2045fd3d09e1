"""model.onnx: the errors of a model folder, run by onnxruntime."""

import json
import sys

import onnxruntime
import pytest
import soundfile
import torch
from model_helpers import CLASSES, make_model_folder
from torch.nn import functional as F

from speechbrain_protos.environment import DependencyError
from speechbrain_protos.inference import PrototypeClassifier
from speechbrain_protos.onnx_export import ErrorGraph, export_onnx, onnx_bytes


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A model folder (every transformation on), its model.onnx, and the
    classifier, loaded."""
    folder, _ = make_model_folder(tmp_path_factory.mktemp("onnx") / "model")
    path = export_onnx(folder, prototype_chunk=2)
    classifier = PrototypeClassifier.from_hparams(source=folder)
    assert classifier.mods.model.active_transforms == ("gain", "pitch", "filters")
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return classifier, session


def run(session, feats, lengths):
    inputs = {"feats": feats.numpy(), "lengths": lengths.numpy()}
    return torch.from_numpy(session.run(None, inputs)[0])


def real_clips(shared_data, seconds):
    flacs = sorted((shared_data / "LibriSpeech").rglob("*.flac"))[20:]
    clips = []
    for flac, length in zip(flacs, seconds):
        wav, rate = soundfile.read(str(flac), dtype="float32")
        clips.append(torch.from_numpy(wav[rate : rate + int(length * rate)]))
    return clips


def test_onnx_errors_are_pytorchs_on_real_recordings(exported, shared_data):
    """Clip by clip, 0.3 s to 6 s: within 1e-4 relative, same decision."""
    classifier, session = exported
    for clip in real_clips(shared_data, [0.3, 1.1, 2.5, 6.0, 0.7, 4.2]):
        feats, lengths = classifier.features(clip)
        expected = classifier.encode_batch(clip)[0, 0]
        errors = run(session, feats, lengths)[0]
        torch.testing.assert_close(errors, expected, rtol=1e-4, atol=0)
        assert int(errors.argmin()) == int(expected.argmin())


def test_batch_and_length_axes_are_dynamic(exported, shared_data):
    """Mixed-length batches of 1 to 5 clips run, and give what the same
    graph gives in PyTorch (a batch is encoded at its longest clip)."""
    classifier, session = exported
    graph = ErrorGraph(classifier.mods.model, prototype_chunk=2)
    clips = real_clips(shared_data, [0.5, 2.0, 1.3, 3.1, 0.9])
    for size in (1, 3, 5):
        batch = clips[:size]
        longest = max(clip.numel() for clip in batch)
        wavs = torch.stack([F.pad(clip, (0, longest - clip.numel())) for clip in batch])
        lens = torch.tensor([clip.numel() / longest for clip in batch])
        feats, frame_lens = classifier.features(wavs, lens)
        with torch.no_grad():
            expected = graph(feats, frame_lens)
        errors = run(session, feats, frame_lens)
        torch.testing.assert_close(errors, expected, rtol=1e-4, atol=0)


def test_the_graph_carries_what_a_runtime_needs(exported):
    classifier, session = exported
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["speechbrain_protos.class_names"]) == CLASSES
    assert json.loads(meta["speechbrain_protos.prototype_classes"]) == [0, 1, 2]
    front_end = json.loads(meta["speechbrain_protos.front_end"])
    assert front_end == classifier.mods.compute_features.config
    assert [i.name for i in session.get_inputs()] == ["feats", "lengths"]
    assert session.get_inputs()[0].shape == ["batch", "frames", 32]


def test_exporting_without_onnx_names_the_package(exported, monkeypatch):
    classifier, _ = exported
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(DependencyError, match="pip install onnx"):
        onnx_bytes(classifier)
