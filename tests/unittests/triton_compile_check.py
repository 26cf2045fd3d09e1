"""Compiles the Triton program ahead of time for CUDA, without a GPU.

Run by ``test_kernels.py`` in a process without ``TRITON_INTERPRET`` (the
program must be jitted for the compiler, not the interpreter). Prints one
JSON line: ``{"<arch> <mode>": [registers, stack bytes], ...}`` read from
the cubin by the ``cuobjdump`` that triton ships.
"""

import json
import pathlib
import re
import subprocess
import sys
import tempfile

import triton
import triton.backends.nvidia
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from speechbrain_protos.kernels import triton_errors, triton_program

MODES = {  # (gain, pitch, filters, softplus, with_grads, input_grad)
    "training": (True, True, True, False, True, False),
    "training-softplus": (True, True, True, True, True, False),
    "evaluation": (True, True, True, False, False, False),
    "input-gradient": (True, True, True, False, False, True),
    "raw-prototypes": (False, False, False, False, True, False),
}
FLAGS = ("USE_GAIN", "USE_PITCH", "USE_FILTERS", "SOFTPLUS", "WITH_GRADS")
FLAGS += ("INPUT_GRAD",)
CUOBJDUMP = pathlib.Path(triton.backends.nvidia.__file__).parent / "bin" / "cuobjdump"


def resources(mode, arch, n_bins=128):
    """Registers and stack bytes per thread of one compiled variant."""
    program = triton_program.errors_program
    constants = dict(zip(FLAGS, MODES[mode]))
    constants.update(
        BLOCK_K=triton_errors.BLOCK_K,
        BLOCK_F=triton.next_power_of_2(n_bins),
        FRAMES=triton_errors.FRAMES,
    )
    signature = {name: "*fp32" for name in program.arg_names}
    signature.update(counts="*i64", n_frames="i32", n_protos="i32", n_bins="i32")
    signature.update(bins_per_unit="fp32", **dict.fromkeys(constants, "constexpr"))
    index = program.arg_names.index
    source = ASTSource(
        fn=program,
        signature=signature,
        constexprs={(index(name),): value for name, value in constants.items()},
    )
    compiled = triton.compile(
        source,
        target=GPUTarget("cuda", arch, 32),
        options={"num_warps": triton_errors.NUM_WARPS},
    )
    with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
        cubin.write(compiled.asm["cubin"])
        cubin.flush()
        report = subprocess.run(
            [str(CUOBJDUMP), "-res-usage", cubin.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    found = re.search(r"REG:(\d+) STACK:(\d+)", report)
    return int(found.group(1)), int(found.group(2))


def main():
    usage = {
        f"sm_{arch} {mode}": resources(mode, arch)
        for arch in (80, 90)
        for mode in MODES
    }
    sys.stdout.write(json.dumps(usage) + "\n")


if __name__ == "__main__":
    main()
