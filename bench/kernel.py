"""Speed of the reconstruction-error kernel against what the CPU could do.

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

Example::

    python bench/kernel.py --K 128 --batch 32 --frames 192 --mels 128 --json
"""

import argparse
import re
import statistics
import time

import torch
from report import add_shape_arguments, emit, machine_facts

from speechbrain_protos.reconstruction import reconstruction_errors
from speechbrain_protos.transforms import SpectralTransforms, TransformParams

OPS_PER_ELEMENT = 77
FP32_OPS_PER_CYCLE = 32  # per core: 2 FMA pipes x 8 lanes x 2 ops


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_shape_arguments(parser)
    parser.add_argument(
        "--impl", choices=("fused", "reference"), default="fused", help="kernel"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args(argv)


def cpu_clock_ghz():
    """The clock /proc/cpuinfo reports for the first core, in GHz."""
    with open("/proc/cpuinfo", encoding="utf-8") as fin:
        match = re.search(r"cpu MHz\s*:\s*([\d.]+)", fin.read())
    return float(match.group(1)) / 1000.0 if match else float("nan")


def run(args):
    torch.manual_seed(args.seed)
    shape = (args.batch, args.frames, args.K)
    feats = torch.rand(args.batch, args.frames, args.mels)
    prototypes = torch.rand(args.K, args.mels, requires_grad=True)
    params = TransformParams(
        gain=(0.1 * torch.randn(shape)).requires_grad_(),
        factor=torch.exp(0.3 * torch.randn(shape)).requires_grad_(),
        filters=torch.stack(
            [
                0.5 - 0.2 * torch.rand(shape),
                0.2 * torch.randn(shape),
                0.5 + 0.2 * torch.rand(shape),
                0.2 * torch.randn(shape),
            ],
            dim=-1,
        ).requires_grad_(),
    )
    transforms = SpectralTransforms(args.mels, 16000)
    counts = torch.full((args.batch,), args.frames)

    def step():
        start = time.perf_counter()
        errors = reconstruction_errors(
            feats, prototypes, params, transforms, counts, impl=args.impl
        )
        errors.sum().backward()
        return time.perf_counter() - start

    step()  # compiles the kernel
    seconds = statistics.median(step() for _ in range(args.steps))
    elements = args.batch * args.frames * args.K * args.mels
    threads = torch.get_num_threads()
    peak_ops = threads * cpu_clock_ghz() * 1e9 * FP32_OPS_PER_CYCLE
    bound = peak_ops / OPS_PER_ELEMENT
    return {
        "impl": args.impl,
        "K": args.K,
        "batch": args.batch,
        "frames": args.frames,
        "mels": args.mels,
        "elements": elements,
        "seconds": round(seconds, 4),
        "elements_per_s": round(elements / seconds),
        "ops_per_element": OPS_PER_ELEMENT,
        "achieved_gops": round(elements * OPS_PER_ELEMENT / seconds / 1e9, 2),
        "peak_fp32_gops": round(peak_ops / 1e9, 1),
        "bound_elements_per_s": round(bound),
        "fraction_of_bound": round(elements / seconds / bound, 4),
        **machine_facts(),
    }


def main(argv=None):
    args = parse_args(argv)
    emit(run(args), args.json, "bench.kernel")


if __name__ == "__main__":
    main()
