"""Inference speed: PrototypeClassifier against SpeechBrain's ECAPA-TDNN.

In one process, on the same clip and the same threads:

* ours: a ``PrototypeClassifier`` with K prototypes and the LibriSpeech
  front end (16 kHz, n_fft 1024, hop 512, 128 mels), exported to a model
  folder and loaded with ``from_hparams``;
* theirs: SpeechBrain's ``EncoderClassifier`` with an ECAPA-TDNN of the
  size of SpeechBrain's VoxCeleb recipe (80 fbanks, channels
  1024x4 + 3072, 192-dim embeddings) and a K-class cosine classifier.

Both are randomly initialised (speed does not depend on the weights). The
real-time factor is the median time of ``classify_file`` on a ``--seconds``
clip divided by its duration; throughput is clips per second of
``classify_batch`` on ``--batch`` such clips, already on the device. Both
run on ``--device`` (``cpu``, ``cuda``); on CUDA every timed call ends with
a synchronisation. Prints one JSON line with ``--json``.

``--contention N`` times both again beside a busy neighbour process on N
torch threads (``shared_`` fields; see ``train_step.py``).

Example::

    python bench/inference.py --K 128 --seconds 10 --batch 32 --json
    python bench/inference.py --device cuda --json
"""

# isort: off
import speechbrain_protos  # noqa: F401 - before torch: its OpenMP wait policy
# isort: on

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import soundfile
import torch
from contention import busy_neighbour
from report import device_facts, emit, kernel_backend, machine_facts, synchronize
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.inference.classifiers import EncoderClassifier
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
from speechbrain.processing.features import InputNormalization

from speechbrain_protos.features import LogMel
from speechbrain_protos.inference import PrototypeClassifier
from speechbrain_protos.lobes import PrototypeReconstructor
from speechbrain_protos.model_folder import model_config, write_model_folder

RATE = 16000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--K", type=int, default=128, help="prototypes / classes")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--batch", type=int, default=32, help="clips per batch")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument(
        "--contention",
        type=int,
        default=0,
        metavar="N",
        help="also time both beside a busy neighbour process on N torch threads",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args(argv)


def median_seconds(repeats, function, *args, device="cpu"):
    """Median wall time of ``function(*args)`` over ``repeats`` runs, after
    one; the work queued on ``device`` is waited for on both sides."""
    function(*args)
    timings = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        function(*args)
        synchronize(device)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def prototype_classifier(n_classes, folder, device="cpu"):
    logmel = LogMel(sample_rate=RATE, n_fft=1024, hop_length=512, n_mels=128)
    model = PrototypeReconstructor(n_classes, n_mels=128, sample_rate=RATE)
    names = [f"speaker{k}" for k in range(n_classes)]
    write_model_folder(folder, model_config(logmel, model, names), model.state_dict())
    return PrototypeClassifier.from_hparams(source=folder, run_opts={"device": device})


def ecapa_classifier(n_classes, device="cpu"):
    """SpeechBrain's EncoderClassifier around a VoxCeleb-sized ECAPA-TDNN."""
    encoder = CategoricalEncoder()
    encoder.update_from_iterable([f"speaker{k}" for k in range(n_classes)])
    encoder.expect_len(n_classes)
    modules = {
        "compute_features": Fbank(n_mels=80),
        "mean_var_norm": InputNormalization(norm_type="sentence", std_norm=False),
        "embedding_model": ECAPA_TDNN(
            input_size=80,
            channels=[1024, 1024, 1024, 1024, 3072],
            kernel_sizes=[5, 3, 3, 3, 1],
            dilations=[1, 2, 3, 4, 1],
            attention_channels=128,
            lin_neurons=192,
        ),
        "classifier": Classifier(input_size=192, out_neurons=n_classes),
    }
    return EncoderClassifier(
        modules=modules,
        hparams={"label_encoder": encoder, "sample_rate": RATE},
        run_opts={"device": device},
    )


def time_systems(systems, clip, batch, args):
    """Real-time factor of classify_file and throughput of classify_batch
    of each system."""
    timings = {}
    for name, system in systems.items():
        with torch.no_grad():
            file_s = median_seconds(
                args.repeats, system.classify_file, clip, device=args.device
            )
            batch_s = median_seconds(
                max(1, args.repeats // 2),
                system.classify_batch,
                batch,
                device=args.device,
            )
        timings[name] = {
            "rtf": round(file_s / args.seconds, 5),
            "file_s": round(file_s, 4),
            "batch_clips_per_s": round(args.batch / batch_s, 2),
        }
    return timings


def run(args):
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    n_samples = int(args.seconds * RATE)
    with tempfile.TemporaryDirectory() as tmp:
        clip = os.path.join(tmp, "clip.wav")
        soundfile.write(clip, 0.1 * rng.standard_normal(n_samples), RATE)
        batch = torch.from_numpy(
            0.1 * rng.standard_normal((args.batch, n_samples)).astype("float32")
        ).to(args.device)
        systems = {
            "protos": prototype_classifier(
                args.K, os.path.join(tmp, "model"), args.device
            ),
            "ecapa": ecapa_classifier(args.K, args.device),
        }
        result = {"K": args.K, "seconds": args.seconds, "batch": args.batch}
        result.update(time_systems(systems, clip, batch, args))
        for name, system in systems.items():
            result[name]["params"] = sum(p.numel() for p in system.mods.parameters())
        if args.contention:
            with busy_neighbour(args.contention):
                shared = time_systems(systems, clip, batch, args)
            result["neighbour_threads"] = args.contention
            for name, timings in shared.items():
                result[name].update(
                    {f"shared_{key}": value for key, value in timings.items()}
                )
    result["speedup_file"] = round(result["ecapa"]["rtf"] / result["protos"]["rtf"], 2)
    result["speedup_batch"] = round(
        result["protos"]["batch_clips_per_s"] / result["ecapa"]["batch_clips_per_s"], 2
    )
    result["kernel"] = kernel_backend(args.device)
    result.update(device_facts(args.device))
    if torch.device(args.device).type == "cuda":
        result["peak_cuda_mib"] = round(
            torch.cuda.max_memory_allocated(args.device) / 2**20, 1
        )
    result.update(machine_facts())
    return result


def main(argv=None):
    args = parse_args(argv)
    emit(run(args), args.json, "bench.inference")


if __name__ == "__main__":
    main()
