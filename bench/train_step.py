"""Times full training steps of PrototypeReconstructor on random features.

One step is the forward pass (encoder, decoders, reconstruction errors), the
supervised objective (eq. 9), backward and an Adam step, with every
transformation active, on ``--device`` (``cpu``, ``cuda``, ...) with the
fused kernel's ``--backend`` (``numba``, ``torch``, ``triton``, or ``auto``:
``SPEECHBRAIN_PROTOS_KERNEL`` is set to it for the run; ``auto`` leaves the
choice to the device). ``--precision bf16`` runs the forward pass under
``torch.autocast`` (SpeechBrain's ``--precision=bf16``): the networks in
bf16, the reconstruction error in float32. Prints the median step time
over ``--steps`` steps after one warm-up step, the process's peak
resident memory and, on CUDA, the peak of allocated device memory.

Example::

    python bench/train_step.py --K 128 --batch 32 --frames 192 --mels 128 \\
        --steps 5 --impl fused --json

Run each implementation in its own process: peak RSS is a process-wide
high-water mark. ``--impl both`` does that: it runs this script once per
implementation and prints both results with the ratios, fused against
reference, from the same run.

``--contention N`` times the steps twice in one process: alone, then beside
a busy neighbour, another process multiplying matrices on N torch threads
(:mod:`contention`), and prints both medians and means and their ratios.
Like the recipes and the CLI, this script imports the package before torch,
so that torch's OpenMP threads sleep when idle (``OMP_WAIT_POLICY=PASSIVE``,
see ``speechbrain_protos/__init__.py``); set ``OMP_WAIT_POLICY=ACTIVE`` to
time spinning threads.
"""

# isort: off
import speechbrain_protos  # noqa: F401 - before torch: its OpenMP wait policy
# isort: on

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
from contention import busy_neighbour
from report import (
    BACKEND_CHOICES,
    add_shape_arguments,
    device_facts,
    emit,
    kernel_backend,
    machine_facts,
    set_kernel_backend,
    synchronize,
)

from speechbrain_protos.lobes import PrototypeReconstructor
from speechbrain_protos.losses import PrototypeObjective

AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_shape_arguments(parser)
    parser.add_argument(
        "--impl",
        choices=("fused", "reference", "both"),
        default="fused",
        help="reconstruction error implementation (both: one process each)",
    )
    parser.add_argument(
        "--precision",
        choices=sorted(AUTOCAST_DTYPES),
        default="fp32",
        help="the networks' precision (autocast, as SpeechBrain's --precision);"
        " the reconstruction error is float32 either way",
    )
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default="auto",
        help="fused kernel backend: sets SPEECHBRAIN_PROTOS_KERNEL for the run"
        " (auto: triton on CUDA with triton, torch on CUDA without, numba on CPU)",
    )
    parser.add_argument(
        "--contention",
        type=int,
        default=0,
        metavar="N",
        help="also time the steps beside a busy neighbour process on N torch"
        " threads (0: alone only)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    return args


def peak_rss_mib():
    """Peak resident set size of this process, in MiB (Linux: KiB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(args):
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = PrototypeReconstructor(
        args.K, n_mels=args.mels, reconstruction_impl=args.impl
    ).to(device)
    objective = PrototypeObjective("supervised", lambda_ce=0.01)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    feats = torch.rand(args.batch, args.frames, args.mels, device=device)
    targets = torch.randint(args.K, (args.batch,), device=device)
    dtype = AUTOCAST_DTYPES[args.precision]

    def step():
        synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            errors = model(feats)
            loss, _ = objective(errors, model.beta, targets)
        loss.backward()
        optimizer.step()
        synchronize(device)
        return time.perf_counter() - start, loss.item()

    warmup_s, first_loss = step()
    timings = [step()[0] for _ in range(args.steps)]
    shared = {}
    if args.contention:
        with busy_neighbour(args.contention):
            beside = [step()[0] for _ in range(args.steps)]
        shared = {
            "neighbour_threads": args.contention,
            "mean_step_s": round(statistics.mean(timings), 4),
            "shared_step_s": round(statistics.median(beside), 4),
            "shared_mean_step_s": round(statistics.mean(beside), 4),
            "shared_slowdown": round(
                statistics.median(beside) / statistics.median(timings), 2
            ),
            "shared_mean_slowdown": round(
                statistics.mean(beside) / statistics.mean(timings), 2
            ),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        }
    result = {
        "impl": args.impl,
        "backend": args.backend,
        "kernel": kernel_backend(device, args.impl),
        "precision": args.precision,
        "K": args.K,
        "batch": args.batch,
        "frames": args.frames,
        "mels": args.mels,
        "steps": args.steps,
        "step_s": round(statistics.median(timings), 4),
        "warmup_s": round(warmup_s, 4),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "params": sum(p.numel() for p in model.parameters()),
        "first_loss": first_loss,
        **shared,
        **device_facts(device),
        **machine_facts(),
    }
    if device.type == "cuda":
        result["peak_cuda_mib"] = round(
            torch.cuda.max_memory_allocated(device) / 2**20, 1
        )
    return result


def compare(argv):
    """Runs both implementations, each in a fresh process, and their ratios."""
    results = {}
    for impl in ("fused", "reference"):
        done = subprocess.run(
            [sys.executable, __file__, *argv, "--impl", impl, "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        results[impl] = json.loads(done.stdout.strip().splitlines()[-1])
    fused, reference = results["fused"], results["reference"]
    result = {
        "precision": fused["precision"],
        "K": fused["K"],
        "batch": fused["batch"],
        "frames": fused["frames"],
        "mels": fused["mels"],
        "fused_step_s": fused["step_s"],
        "reference_step_s": reference["step_s"],
        "speedup": round(reference["step_s"] / fused["step_s"], 2),
        "fused_peak_rss_mib": fused["peak_rss_mib"],
        "reference_peak_rss_mib": reference["peak_rss_mib"],
        "memory_fraction": round(fused["peak_rss_mib"] / reference["peak_rss_mib"], 3),
        "same_first_loss": abs(fused["first_loss"] - reference["first_loss"])
        <= 1e-5 * abs(reference["first_loss"]),
        "kernel": fused["kernel"],
        "device": fused["device"],
        "device_name": fused["device_name"],
        **machine_facts(),
    }
    if "peak_cuda_mib" in fused:
        result["fused_peak_cuda_mib"] = fused["peak_cuda_mib"]
        result["reference_peak_cuda_mib"] = reference["peak_cuda_mib"]
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    set_kernel_backend(args.backend)
    if args.impl == "both":
        others = [
            a
            for a in argv
            if a not in ("--impl", "both", "--json") and not a.startswith("--impl=")
        ]
        emit(compare(others), args.json, "bench.train_step")
    else:
        emit(run(args), args.json, "bench.train_step")


if __name__ == "__main__":
    main()
