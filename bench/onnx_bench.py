"""model.onnx against PyTorch on the CPU: same errors, speed, memory.

Writes a model folder at the LibriSpeech recipe's shape (16 kHz, n_fft 1024,
hop 512, 128 mels, ``--K`` prototypes; untrained: parity and speed do not
depend on the weights), exports its ``model.onnx`` and then:

* parity: on ``--clips`` real utterances of the LibriSpeech excerpt (the
  first ``--seconds`` of each), clip by clip, the largest relative
  difference between onnxruntime's errors and PyTorch's
  (``PrototypeClassifier.encode_batch``), and how many decisions agree;
* speed: median time of the errors of a batch of ``--batch`` clips of
  ``--seconds`` from features, PyTorch (the fused numba kernel) against
  onnxruntime (the graph's chunked reference formulation), both on every
  thread torch uses;
* memory: in a fresh process, onnxruntime's peak resident memory for one
  clip of ``--seconds``, and how much running it adds to a loaded session.

Example::

    python bench/onnx_bench.py --K 128 --seconds 10 --json

(Not ``bench/onnx.py``: run as a script, that name would shadow the
``onnx`` package the exporter imports.)
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import onnxruntime
import soundfile
import torch
from inference import median_seconds, prototype_classifier
from librispeech_recipe import default_data
from report import emit, machine_facts

import speechbrain_protos  # noqa: F401 - before torch: its OpenMP wait policy
from speechbrain_protos.onnx_export import PROTOTYPE_CHUNK, export_onnx

# Peak resident memory from /proc (VmHWM): getrusage's ru_maxrss survives
# fork and exec, so a child would report its parent's peak.
MEMORY_PROBE = """
import numpy as np, onnxruntime

def peak_kib():
    with open("/proc/self/status") as fin:
        return next(int(line.split()[1]) for line in fin if line.startswith("VmHWM"))

options = onnxruntime.SessionOptions()
options.intra_op_num_threads = {threads}
session = onnxruntime.InferenceSession(
    {path!r}, options, providers=["CPUExecutionProvider"]
)
feats = np.random.default_rng(0).random((1, {frames}, {mels}), dtype=np.float32)
loaded = peak_kib()
session.run(None, {{"feats": feats, "lengths": np.ones(1, np.float32)}})
print(loaded, peak_kib())
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--K", type=int, default=128, help="prototypes / classes")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--batch", type=int, default=8, help="clips per timed batch")
    parser.add_argument("--clips", type=int, default=20, help="real clips compared")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs")
    parser.add_argument(
        "--chunk", type=int, default=PROTOTYPE_CHUNK, help="graph's prototype chunk"
    )
    parser.add_argument("--data_folder", default=default_data(), help="LibriSpeech")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    if args.data_folder is None or not os.path.isdir(args.data_folder):
        parser.error(f"no LibriSpeech folder at {args.data_folder}; pass --data_folder")
    return args


def ort_session(path):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return onnxruntime.InferenceSession(
        path, options, providers=["CPUExecutionProvider"]
    )


def ort_errors(session, feats, lengths):
    inputs = {"feats": feats.numpy(), "lengths": lengths.numpy()}
    return torch.from_numpy(session.run(None, inputs)[0])


def parity(classifier, session, data_folder, clips, seconds):
    """Largest relative difference and agreeing decisions on real clips."""
    flacs = sorted(
        path
        for path in map(str, pathlib.Path(data_folder).rglob("*.flac"))
        if soundfile.info(path).duration >= seconds
    )[:clips]
    worst, agree = 0.0, 0
    for flac in flacs:
        wav, _ = soundfile.read(flac, dtype="float32", frames=int(seconds * 16000))
        wav = torch.from_numpy(wav)
        feats, lengths = classifier.features(wav)
        expected = classifier.encode_batch(wav)[0, 0]
        errors = ort_errors(session, feats, lengths)[0]
        worst = max(worst, float(((errors - expected).abs() / expected.abs()).max()))
        agree += int(errors.argmin()) == int(expected.argmin())
    return {
        "clips": len(flacs),
        "max_relative_difference": worst,
        "same_decision": agree,
    }


def memory(path, frames, mels):
    """onnxruntime's peak RSS (MiB) for one clip, in a fresh process."""
    code = MEMORY_PROBE.format(
        path=path, frames=frames, mels=mels, threads=torch.get_num_threads()
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded, peak = (int(value) / 1024 for value in done.stdout.split())
    return {"peak_rss_mib": round(peak, 1), "run_adds_mib": round(peak - loaded, 1)}


def run(args):
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "model")
        classifier = prototype_classifier(args.K, folder)
        path = export_onnx(folder, prototype_chunk=args.chunk)
        session = ort_session(path)
        agreement = parity(
            classifier, session, args.data_folder, args.clips, args.seconds
        )
        samples = int(args.seconds * classifier.sample_rate)
        wavs = torch.rand(args.batch, samples) - 0.5
        feats, lengths = classifier.features(wavs)
        model = classifier.mods.model
        with torch.no_grad():
            torch_s = median_seconds(args.repeats, model, feats, lengths)
        ort_s = median_seconds(args.repeats, ort_errors, session, feats, lengths)
        footprint = memory(path, feats.shape[1], feats.shape[2])
        size_mib = os.path.getsize(path) / 2**20
    return {
        "bench": "onnx",
        "K": args.K,
        "seconds": args.seconds,
        "batch": args.batch,
        "prototype_chunk": args.chunk,
        "onnx_mib": round(size_mib, 2),
        "parity": agreement,
        "torch_fused_s": round(torch_s, 4),
        "onnxruntime_s": round(ort_s, 4),
        "onnxruntime_vs_torch": round(ort_s / torch_s, 2),
        "onnxruntime_memory_one_clip": footprint,
        "onnxruntime": onnxruntime.__version__,
        **machine_facts(),
    }


def main(argv=None):
    args = parse_args(argv)
    result = run(args)
    if args.json:
        emit(result, True, "onnx")
    else:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
