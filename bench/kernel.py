"""Speed of the reconstruction-error kernel against what the device could do.

Times the error matrix alone (forward with local gradients, then
backward) on random inputs with every transformation on (gain, mel-aware
pitch, hinge filters, the recipes' defaults), and reports elements
(B * T * K * F) per second next to a bound: the cores' peak fp32 FLOP/s
divided by the work counted per element.

Work per element, counted from ``kernels.numba_errors._pair`` (one op = one add,
multiply, compare or select; a division counts 1 too):

* value: pitch position (1 multiply, a float64 log1p, 1 multiply-add, 2
  clamps, floor, int, 2 index mins, 1 add, 1 subtract: 11 ops), linear
  interpolation and gain (5), two hinge filters (2 x 2 for the distances,
  2 compares, 4 to apply), error, square and residual (4): 30 ops and one
  log1p;
* gradients: position slope (2 range compares, 5 arithmetic), gain (1),
  pitch (4), prototype rows (5), filters (10): 27 ops.

A float64 log1p costs about 20 such ops (its polynomial), so the count is
77 ops per element. The peak is cores x clock x 32 fp32 ops per cycle (two
FMA pipes of eight lanes, AVX2 or double-pumped AVX-512, each FMA two ops).

On CUDA (``--device cuda``, ``--backend torch`` or ``triton``) the same
count is held against the GPU's peak fp32 rate: ``--peak-tflops`` if given,
else the published 67 TFLOP/s of an H100 or H200 SXM, else SMs x SM clock
x 128 fp32 lanes x 2 (FMA), the clock from torch's device properties or
``nvidia-smi``. ``peak_source`` says which.

Example::

    python bench/kernel.py --K 128 --batch 32 --frames 192 --mels 128 --json
    python bench/kernel.py --device cuda --backend triton --json
"""

import argparse
import re
import statistics
import subprocess
import time

import torch
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

from speechbrain_protos.reconstruction import reconstruction_errors
from speechbrain_protos.transforms import SpectralTransforms, TransformParams

OPS_PER_ELEMENT = 77
FP32_OPS_PER_CYCLE = 32  # per core: 2 FMA pipes x 8 lanes x 2 ops
GPU_FP32_LANES_PER_SM = 128  # Ampere/Hopper: 4 partitions x 32 fp32 lanes
PUBLISHED_FP32_TFLOPS = {"H100": 67.0, "H200": 67.0}  # SXM parts, NVIDIA's sheets


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_shape_arguments(parser)
    parser.add_argument(
        "--impl", choices=("fused", "reference"), default="fused", help="kernel"
    )
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default="auto",
        help="fused kernel backend (auto: the device's default, or"
        " SPEECHBRAIN_PROTOS_KERNEL); set as SPEECHBRAIN_PROTOS_KERNEL",
    )
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's peak fp32 TFLOP/s, for the fraction of the bound"
        " (default: measured from the CPU, or the GPU's SMs and clock)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args(argv)


def cpu_clock_ghz():
    """The clock /proc/cpuinfo reports for the first core, in GHz."""
    with open("/proc/cpuinfo", encoding="utf-8") as fin:
        match = re.search(r"cpu MHz\s*:\s*([\d.]+)", fin.read())
    return float(match.group(1)) / 1000.0 if match else float("nan")


def gpu_sm_clock_ghz(device):
    """The SM clock of a CUDA device in GHz: torch's ``clock_rate`` (kHz;
    not in every torch), else ``nvidia-smi``'s maximum SM clock, else None."""
    props = torch.cuda.get_device_properties(device)
    khz = getattr(props, "clock_rate", 0) or 0
    if khz > 0:
        return khz / 1e6, "torch clock_rate"
    index = torch.device(device).index or 0
    try:
        done = subprocess.run(
            [
                "nvidia-smi",
                "-i",
                str(index),
                "--query-gpu=clocks.max.sm",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return float(done.stdout.strip().splitlines()[0]) / 1000.0, "nvidia-smi"
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None, None


def published_tflops(name):
    """NVIDIA's published fp32 TFLOP/s for an H100 or H200 SXM, else None
    (the PCIe and NVL parts run slower clocks and are left out)."""
    if "PCIE" in name.upper() or "NVL" in name.upper():
        return None
    for part, tflops in PUBLISHED_FP32_TFLOPS.items():
        if part in name:
            return tflops
    return None


def peak_fp32(args, device):
    """Peak fp32 op/s of ``device``, how it was found, and facts behind it."""
    facts = {}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        clock, clock_source = gpu_sm_clock_ghz(device)
        facts["sm_count"] = props.multi_processor_count
        facts["sm_clock_ghz"] = clock
        from_clock = None
        if clock:
            from_clock = props.multi_processor_count * clock * 1e9
            from_clock *= GPU_FP32_LANES_PER_SM * 2
            facts["peak_from_clock_tflops"] = round(from_clock / 1e12, 1)
        published = published_tflops(torch.cuda.get_device_name(device))
        if args.peak_tflops:
            return args.peak_tflops * 1e12, "--peak-tflops", facts
        if published:
            source = f"published fp32 figure for H100/H200 SXM ({published} TFLOP/s)"
            return published * 1e12, source, facts
        if from_clock:
            source = f"SMs x SM clock ({clock_source}) x 128 lanes x 2 (FMA)"
            return from_clock, source, facts
        return None, "unknown: pass --peak-tflops", facts
    if args.peak_tflops:
        return args.peak_tflops * 1e12, "--peak-tflops", facts
    threads = torch.get_num_threads()
    peak_ops = threads * cpu_clock_ghz() * 1e9 * FP32_OPS_PER_CYCLE
    return peak_ops, "threads x /proc/cpuinfo clock x 32 (2 FMA pipes x 8 lanes)", facts


def run(args):
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    shape = (args.batch, args.frames, args.K)

    def rand(*size):
        return torch.rand(*size, device=device)

    def randn(*size):
        return torch.randn(*size, device=device)

    feats = rand(args.batch, args.frames, args.mels)
    prototypes = rand(args.K, args.mels).requires_grad_()
    params = TransformParams(
        gain=(0.1 * randn(shape)).requires_grad_(),
        factor=torch.exp(0.3 * randn(shape)).requires_grad_(),
        filters=torch.stack(
            [
                0.5 - 0.2 * rand(shape),
                0.2 * randn(shape),
                0.5 + 0.2 * rand(shape),
                0.2 * randn(shape),
            ],
            dim=-1,
        ).requires_grad_(),
    )
    transforms = SpectralTransforms(args.mels, 16000)
    counts = torch.full((args.batch,), args.frames, device=device)

    def step():
        synchronize(device)
        start = time.perf_counter()
        errors = reconstruction_errors(
            feats, prototypes, params, transforms, counts, impl=args.impl
        )
        errors.sum().backward()
        synchronize(device)
        return time.perf_counter() - start

    step()  # compiles the kernel
    seconds = statistics.median(step() for _ in range(args.steps))
    elements = args.batch * args.frames * args.K * args.mels
    peak_ops, peak_source, peak_facts = peak_fp32(args, device)
    bound = peak_ops / OPS_PER_ELEMENT if peak_ops else None
    return {
        "impl": args.impl,
        "backend": args.backend,
        "kernel": kernel_backend(device, args.impl),
        "K": args.K,
        "batch": args.batch,
        "frames": args.frames,
        "mels": args.mels,
        "elements": elements,
        "seconds": round(seconds, 4),
        "elements_per_s": round(elements / seconds),
        "ops_per_element": OPS_PER_ELEMENT,
        "achieved_gops": round(elements * OPS_PER_ELEMENT / seconds / 1e9, 2),
        "peak_fp32_gops": round(peak_ops / 1e9, 1) if peak_ops else None,
        "peak_source": peak_source,
        **peak_facts,
        "bound_elements_per_s": round(bound) if bound else None,
        "fraction_of_bound": round(elements / seconds / bound, 4) if bound else None,
        **device_facts(device),
        **machine_facts(),
    }


def main(argv=None):
    args = parse_args(argv)
    set_kernel_backend(args.backend)
    emit(run(args), args.json, "bench.kernel")


if __name__ == "__main__":
    main()
