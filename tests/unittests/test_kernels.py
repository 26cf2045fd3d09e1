"""The backends of the fused error: how one is chosen, what each imports,
tiled and chunked shapes, and the Triton kernel's float32 pitch positions."""

import json
import logging
import os
import pathlib
import subprocess
import sys

import pytest
import torch
from test_reconstruction import assert_fused_matches_reference, make_inputs

from speechbrain_protos import kernels
from speechbrain_protos.kernels import (
    ENVIRONMENT_VARIABLE,
    select_backend,
    torch_errors,
    triton_available,
)
from speechbrain_protos.transforms import SpectralTransforms, pitch_positions

NEEDS_TRITON = pytest.mark.skipif(
    not triton_available(), reason="triton is not installed on this platform"
)

if triton_available():
    import triton
    import triton.language as tl

    from speechbrain_protos.kernels import triton_program

    @triton.jit
    def positions_program(
        c_ptr, factor_ptr, out_ptr, bins_per_unit, BLOCK: tl.constexpr
    ):
        """The kernel's unclamped read positions for BLOCK factors."""
        fs = tl.arange(0, BLOCK)
        raw, _ = triton_program.pitch_positions(
            tl.load(c_ptr + fs),
            tl.load(factor_ptr + fs),
            fs.to(tl.float32),
            bins_per_unit,
        )
        tl.store(out_ptr + fs[:, None] * BLOCK + fs[None, :], raw)


@pytest.fixture
def fresh_selection(monkeypatch):
    """No override from the environment; every choice is logged anew."""
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(kernels, "_announced", set())


def test_default_backend_follows_the_device(fresh_selection, monkeypatch):
    assert select_backend("cpu") == "numba"
    assert select_backend(torch.device("mps")) == "torch"
    monkeypatch.setattr(kernels, "triton_available", lambda: True)
    assert select_backend("cuda") == "triton"
    monkeypatch.setattr(kernels, "triton_available", lambda: False)
    assert select_backend("cuda") == "torch"


def test_argument_then_environment_override_the_default(fresh_selection, monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "torch")
    assert select_backend("cpu") == "torch"
    assert select_backend("cpu", requested="numba") == "numba"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "cuda")
    with pytest.raises(ValueError, match=ENVIRONMENT_VARIABLE):
        select_backend("cpu")


def test_numba_on_a_gpu_is_refused(fresh_selection):
    with pytest.raises(ValueError, match="numba backend runs on the CPU only"):
        select_backend("cuda", requested="numba")


def test_the_choice_is_logged_once(fresh_selection, caplog):
    with caplog.at_level(logging.INFO, logger=kernels.__name__):
        for _ in range(3):
            select_backend("cpu")
    assert [r.getMessage() for r in caplog.records] == [
        "Reconstruction error on cpu: numba backend (default)"
    ]


@NEEDS_TRITON
def test_triton_backend_names_where_it_runs(monkeypatch):
    from speechbrain_protos.kernels import triton_errors

    with pytest.raises(ValueError, match="runs on CUDA"):
        triton_errors._program(torch.device("meta"))
    monkeypatch.setattr(triton_errors, "interpreted", lambda: False)
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        triton_errors._program(torch.device("cpu"))


def test_importing_the_library_imports_no_kernel_compiler():
    """numba and triton load with their backend, not with the library."""
    code = (
        "import sys, speechbrain_protos.lobes, speechbrain_protos.inference;"
        "print(sorted({'numba', 'triton'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "backend", ["numba", "torch", pytest.param("triton", marks=NEEDS_TRITON)]
)
def test_several_tiles_and_chunks_match_the_reference(backend, monkeypatch):
    """More prototypes than one Triton tile (16) and frames than one frame
    tile (32; clip 2 has no frame in the second), and, for the torch
    backend, a chunk of at most 3 prototypes: 7 chunks."""
    monkeypatch.setattr(torch_errors, "CHUNK_ELEMENTS", 3 * 3 * 40 * 16)
    assert len(torch_errors.chunks(20, 3, 40, 16)) == 7
    shape = (3, 40, 20, 16, [40, 13, 33])
    transforms = SpectralTransforms(16, 16000)
    feats, prototypes, params, counts = make_inputs(
        *shape, ("gain", "pitch", "filters"), seed=7
    )
    upstream = torch.randn(3, 20, generator=torch.Generator().manual_seed(3))
    assert_fused_matches_reference(
        feats, prototypes, params, transforms, counts, upstream, backend
    )


@pytest.mark.parametrize(
    "backend", ["torch", pytest.param("triton", marks=NEEDS_TRITON)]
)
@pytest.mark.parametrize("warp", ["mel", "linear"])
def test_float32_backends_match_the_reference_from_1_8_to_8(backend, warp):
    """Pitch factors far outside the decoders' default range (e^-1 to e):
    the float32 positions, the log1p's two branches and the Triton kernel's
    prototype gradient (which relies on positions growing with the bin)."""
    transforms = SpectralTransforms(32, 16000, pitch_warp=warp)
    feats, prototypes, params, counts = make_inputs(
        2, 9, 5, 32, [9, 6], ("gain", "pitch", "filters"), seed=11
    )
    factors = torch.exp(torch.linspace(-2.08, 2.08, 2 * 9 * 5))
    order = torch.randperm(90, generator=torch.Generator().manual_seed(5))
    params = params._replace(factor=factors[order].reshape(2, 9, 5))
    upstream = torch.randn(2, 5, generator=torch.Generator().manual_seed(4))
    assert_fused_matches_reference(
        feats, prototypes, params, transforms, counts, upstream, backend
    )


@NEEDS_TRITON
@pytest.mark.parametrize("warp", ["mel", "linear"])
@pytest.mark.parametrize("n_bins", [32, 128, 256])
def test_triton_float32_positions_stay_within_the_stated_bound(warp, n_bins):
    """The kernel's float32 read positions against float64, pitch factors
    from 1/8 to 8: within 2.5e-7 x F bins (the docstring of
    ``triton_program`` says why)."""
    transforms = SpectralTransforms(n_bins, 16000, pitch_warp=warp)
    constants = kernels.KernelConstants(transforms, torch.float32, "cpu")
    factors = torch.exp(torch.linspace(-2.08, 2.08, n_bins))  # 1/8 .. 8
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out = torch.empty(n_bins, n_bins, device=device)
    positions_program[(1,)](
        constants.c.float().to(device),
        factors.to(device),
        out,
        float(constants.bins_per_unit),
        BLOCK=n_bins,
    )
    exact = pitch_positions(factors.double(), transforms.bin_coords)
    error = (out.cpu().double().clamp(0, n_bins - 1) - exact).abs().max().item()
    assert error < 2.5e-7 * n_bins, error


@NEEDS_TRITON
def test_triton_program_compiles_for_cuda_without_spilling():
    """The interpreter runs Python, not Triton's compiler: compile the
    program ahead of time for Ampere and Hopper in every mode (no GPU
    needed; triton brings ptxas), with the launch constants of
    ``triton_errors``, and check that no thread spills registers."""
    script = pathlib.Path(__file__).with_name("triton_compile_check.py")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    usage = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(usage) == 10
    for config, (registers, stack) in usage.items():
        assert stack == 0 and registers <= 255, (config, registers, stack)
