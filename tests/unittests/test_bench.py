"""bench/train_step.py keeps its command-line contract."""

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"
SCRIPT = BENCH / "train_step.py"
TINY = ["--K", "4", "--batch", "2", "--frames", "24", "--mels", "32", "--steps", "2"]


def run_bench(*extra):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, *extra, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0])


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_prints_one_json_line(impl):
    result = run_bench("--impl", impl)
    assert result["impl"] == impl
    assert (result["K"], result["batch"], result["frames"], result["mels"]) == (
        4,
        2,
        24,
        32,
    )
    assert result["step_s"] > 0 and result["peak_rss_mib"] > 0
    assert result["params"] > 0


def test_both_impls_train_the_same_model():
    fused, reference = run_bench("--impl", "fused"), run_bench("--impl", "reference")
    assert fused["params"] == reference["params"]
    assert abs(fused["first_loss"] - reference["first_loss"]) < 1e-5 * abs(
        reference["first_loss"]
    )


def test_bf16_step_starts_from_the_same_loss():
    """The networks run in bf16, the errors in float32: the first loss is
    close to the float32 one, not equal (the convolutions did change)."""
    full, mixed = run_bench("--precision", "fp32"), run_bench("--precision", "bf16")
    assert (full["precision"], mixed["precision"]) == ("fp32", "bf16")
    assert mixed["first_loss"] == pytest.approx(full["first_loss"], rel=0.02)
    assert mixed["first_loss"] != full["first_loss"]


def test_contention_mode_times_alone_and_beside_a_neighbour():
    result = run_bench("--contention", "1")
    assert result["neighbour_threads"] == 1
    assert result["shared_step_s"] > 0 and result["shared_mean_step_s"] > 0
    assert result["shared_slowdown"] == pytest.approx(
        result["shared_step_s"] / result["step_s"], rel=0.02
    )
    # the package's own default, set before torch loaded
    assert result["omp_wait_policy"] == "PASSIVE"


def test_the_busy_neighbour_computes_with_spinning_threads(monkeypatch):
    """The neighbour burns CPU for the whole block, keeps torch's default
    OpenMP waits (the environment's passive policy is not passed on), and
    is gone afterwards."""
    sys.path.insert(0, str(BENCH))
    from contention import busy_neighbour

    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")

    def cpu_seconds(pid):
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fin:
            fields = fin.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    with busy_neighbour(1) as neighbour:
        before = cpu_seconds(neighbour.pid)
        time.sleep(1.0)
        burnt = cpu_seconds(neighbour.pid) - before
        with open(f"/proc/{neighbour.pid}/environ", "rb") as fin:
            environment = fin.read().split(b"\0")
    assert burnt > 0.5
    assert not any(entry.startswith(b"OMP_WAIT_POLICY=") for entry in environment)
    assert neighbour.poll() is not None


def test_inference_bench_compares_both_systems():
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "inference.py"),
            "--K",
            "4",
            "--seconds",
            "1",
            "--batch",
            "2",
            "--repeats",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])
    for system in ("protos", "ecapa"):
        assert result[system]["rtf"] > 0 and result[system]["batch_clips_per_s"] > 0
    # ECAPA at SpeechBrain's VoxCeleb size has about 20.8M parameters.
    assert result["ecapa"]["params"] > 20_000_000 > result["protos"]["params"]
    assert result["speedup_file"] == pytest.approx(
        result["ecapa"]["rtf"] / result["protos"]["rtf"], rel=0.01
    )


def test_both_impls_in_one_run_give_their_ratios():
    result = run_bench("--impl", "both")
    assert result["same_first_loss"] is True
    assert result["speedup"] == pytest.approx(
        result["reference_step_s"] / result["fused_step_s"], rel=0.01
    )
    assert result["memory_fraction"] == pytest.approx(
        result["fused_peak_rss_mib"] / result["reference_peak_rss_mib"], rel=0.01
    )


def test_kernel_bench_reports_its_bound():
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "kernel.py"),
            "--K",
            "4",
            "--batch",
            "2",
            "--frames",
            "24",
            "--mels",
            "32",
            "--steps",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["elements"] == 4 * 2 * 24 * 32
    assert 0 < result["fraction_of_bound"] < 1
    # seconds are printed to 0.1 ms
    seconds = result["elements"] / result["elements_per_s"]
    assert abs(seconds - result["seconds"]) <= 5e-5


def run_recipe_bench(script, shared_data, *options):
    """A LibriSpeech-recipe bench on the excerpt; its last JSON line."""
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / script),
            *options,
            "--data_folder",
            str(shared_data / "LibriSpeech"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_evaluation_bench_times_both_passes(shared_data):
    result = run_recipe_bench(
        "evaluation.py", shared_data, "--speakers", "8", "--batch", "4"
    )
    assert result["clips"] == 8 and result["same_scores"] is True
    assert 0 < result["kernel_s_batched"] < result["batched_s"]
    assert result["batched_bf16_s"] > 0
    # seconds are printed to 1 ms and these passes take tens of ms
    assert result["speedup"] == pytest.approx(
        result["one_by_one_s"] / result["batched_s"], rel=0.1
    )


def test_epoch_bench_times_both_cache_modes(shared_data):
    result = run_recipe_bench(
        "epoch.py",
        shared_data,
        *("--speakers", "8", "--epochs", "2", "--batch", "8"),
        *("--frames", "16", "--workers", "0"),
    )
    for mode in ("off", "on", "on_bf16"):
        assert len(result[f"epoch_s_cache_{mode}"]) == 2
    assert all(seconds > 0 for seconds in result["epoch_s_cache_on"])
    # one entry per training and validation clip, written in the first epoch
    assert result["cache_entries"] == result["train_clips"] + result["valid_clips"]
    assert result["speedup_later_epochs"] == pytest.approx(
        result["later_epochs_s_off"] / result["later_epochs_s_on"], rel=0.05
    )


# Not part of the smoke subset: most of a minute of subprocesses on 2 cores.
def test_gpu_script_dry_run_prints_every_measure(shared_data, tmp_path):
    """bench/gpu.sh --dry-run: every line JSON with the device, every
    measure present, the LibriSpeech shape's fp32 steps, kernels, inference
    and the bf16 recipe measured (triton's under the interpreter; skipped
    only where triton cannot be imported), the rest skipped as the dry run
    does."""
    env = dict(
        os.environ, SB_PROTOS_SHARED_DATA=str(shared_data), PYTHON=sys.executable
    )
    env.pop("OUT", None)
    done = subprocess.run(
        ["bash", str(BENCH / "gpu.sh"), "--dry-run", "--budget", "600"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=True,
    )
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert (tmp_path / "bench_gpu.jsonl").read_text() == done.stdout
    for line in lines:
        assert line["device"] == "cpu" and line["device_name"], line
    seen = {
        (line["measure"], line.get("shape"), line.get("path", line.get("backend")))
        + (line.get("precision"),): line
        for line in lines
    }
    expected = [("environment", None, None, None)]
    for shape in ("librispeech", "sol"):
        for path in ("reference", "torch", "triton"):
            expected += [("train_step", shape, path, p) for p in ("fp32", "bf16")]
    for path in ("torch", "triton"):
        expected += [("train_step", "large", path, p) for p in ("fp32", "bf16")]
    expected.append(("train_step", "large", "reference", "fp32"))
    for shape in ("librispeech", "sol", "large"):
        expected += [
            ("kernel", shape, backend, None) for backend in ("torch", "triton")
        ]
    expected += [("inference", None, None, None), ("recipe", None, None, "bf16")]
    assert sorted(seen, key=str) == sorted(expected, key=str)
    triton = lines[0]["triton_importable"]
    for (measure, shape, path, precision), line in seen.items():
        if shape in ("sol", "large") or (measure, precision) == ("train_step", "bf16"):
            assert "dry run" in line["skipped"], line
        elif path == "triton" and not triton:
            assert "triton cannot be imported" in line["skipped"], line
        else:
            assert "error" not in line and "skipped" not in line, line
    assert seen[("train_step", "librispeech", "triton", "fp32")]["step_s"] > 0
    assert seen[("kernel", "librispeech", "triton", None)]["kernel"] == "triton"


def test_gpu_script_refuses_the_full_run_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("OUT", None)
    done = subprocess.run(
        ["bash", str(BENCH / "gpu.sh")], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    assert "no CUDA device" in done.stderr and "--dry-run" in done.stderr
    assert done.stdout == ""


def test_untrusted_folder_bench_compares_both_loaders():
    done = subprocess.run(
        [sys.executable, str(BENCH / "untrusted_folder.py"), "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    rows = json.loads(done.stdout.strip().splitlines()[-1])["rows"]
    assert len(rows) == 8
    ours = [row for row in rows if "PrototypeClassifier" in row["loader"]]
    assert [row["command_ran"] for row in ours] == [False] * 4
    assert all(row["error"] for row in ours)
    # README.md and bench/README.md say SpeechBrain's loader runs all four.
    theirs = [row for row in rows if "EncoderClassifier" in row["loader"]]
    assert [row["command_ran"] for row in theirs] == [True] * 4, (
        "SpeechBrain's loader changed: update the READMEs' comparison"
    )


def test_onnx_bench_reports_parity_speed_and_memory(shared_data):
    done = subprocess.run(
        [sys.executable, str(BENCH / "onnx_bench.py"), "--K", "4", "--seconds", "1"]
        + ["--batch", "2", "--clips", "2", "--repeats", "1", "--json"]
        + ["--data_folder", str(shared_data / "LibriSpeech")],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["parity"]["clips"] == 2 and result["parity"]["same_decision"] == 2
    assert result["parity"]["max_relative_difference"] < 1e-4
    assert result["onnxruntime_s"] > 0 and result["torch_fused_s"] > 0
    assert 0 < result["onnxruntime_memory_one_clip"]["run_adds_mib"]
    assert result["onnxruntime_memory_one_clip"]["peak_rss_mib"] < 2048
