"""Loaded by pytest before it imports anything of the package.

Without a CUDA device, the Triton kernel is tested under Triton's
interpreter, which must be switched on before triton is imported (it is
read when the kernels are decorated). Where triton cannot be imported at
all (macOS, Windows), its modules are not collected for doctests.
Fixture-making scripts are not collected either.
"""

import importlib.util
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# The fixtures' scripts ran once at an older commit (they say which).
collect_ignore_glob = ["tests/fixtures/*.py"]
if importlib.util.find_spec("triton") is None:
    collect_ignore_glob += [
        "speechbrain_protos/kernels/triton_*.py",
        "tests/unittests/triton_compile_check.py",
    ]
