#!/usr/bin/env bash
# The GPU benches in one run: one JSON line per measure on stdout, each with
# the device and its name (torch.cuda.get_device_name()).
#
#   bash bench/gpu.sh [--dry-run] [--out FILE] [--data DIR] [--budget SECONDS]
#
# Measures, in this order (bench/README.md, "On a GPU"):
#   train_step  bench/train_step.py at the LibriSpeech shape (K 128, batch 32,
#               192 frames, 128 mels) and the SOL shape (K 33, batch 32, 256
#               frames), paths reference / torch / triton, fp32 and bf16; then
#               a large shape (K 256, batch 128, 192 frames) with torch and
#               triton; the reference path at the large shape comes last, under
#               its own time limit (it may run out of memory)
#   kernel      bench/kernel.py at the three shapes, torch and triton backends
#   inference   bench/inference.py: classify_batch and classify_file against
#               SpeechBrain's ECAPA-TDNN EncoderClassifier on the same device
#   recipe      bench/epoch.py: two epochs of the LibriSpeech recipe on the
#               shared excerpt with --precision=bf16 (no feature cache)
#
# Options:
#   --dry-run       the same measures on the CPU at tiny shapes, one step each,
#                   one epoch of the recipe on 8 speakers; the SOL and large
#                   shapes and the bf16 steps are skipped (the same code as
#                   the LibriSpeech shape's fp32 steps at tiny sizes);
#                   triton runs under Triton's interpreter (TRITON_INTERPRET=1)
#                   if triton imports, else its measures are skipped
#   --out FILE      also write the JSON lines to FILE (or $OUT: a file, or a
#                   folder that gets bench_gpu.jsonl)
#   --data DIR      folder that holds LibriSpeech/ (default:
#                   $SB_PROTOS_SHARED_DATA, else shared/data inside the checkout,
#                   beside it or beside a parent)
#   --budget S      stop starting measures after S seconds (default 330, dry
#                   run 110); each measure also has its own time limit
# Environment: PYTHON (default .venv/bin/python if present, else python3).
#
# A measure that fails prints a line with "error" (its exit status and the
# last lines of its stderr) and the script goes on; one that is not run
# prints a line with "skipped" and the reason.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
DRY_RUN=0
OUT_FILE=${OUT:-}
DATA=""
BUDGET=""

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --out) OUT_FILE=${2:?--out needs a file}; shift ;;
        --out=*) OUT_FILE=${1#--out=} ;;
        --data) DATA=${2:?--data needs a folder}; shift ;;
        --data=*) DATA=${1#--data=} ;;
        --budget) BUDGET=${2:?--budget needs seconds}; shift ;;
        --budget=*) BUDGET=${1#--budget=} ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ -z "${PYTHON:-}" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then
        PYTHON=$REPO/.venv/bin/python
    else
        PYTHON=$(command -v python3 || command -v python)
    fi
fi
if [ -n "$OUT_FILE" ] && [ -d "$OUT_FILE" ]; then
    OUT_FILE=$OUT_FILE/bench_gpu.jsonl
fi
if [ -n "$OUT_FILE" ]; then
    : >"$OUT_FILE"
fi
if [ -n "$DATA" ]; then
    if [ ! -d "$DATA/LibriSpeech" ]; then
        echo "gpu.sh: --data $DATA holds no LibriSpeech/ folder" >&2
        exit 2
    fi
    export SB_PROTOS_SHARED_DATA
    SB_PROTOS_SHARED_DATA=$(cd "$DATA" && pwd)
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The device, its name and the versions, as one JSON object.
cat >"$WORK/probe.py" <<'EOF'
import importlib.metadata as metadata
import importlib.util
import json
import platform
import sys

import torch

sys.path.insert(0, sys.argv[2])
from report import cpu_model_name  # noqa: E402 - bench/ is on the path now

dry_run = sys.argv[1] == "1"
cuda = torch.cuda.is_available()
facts = {"mode": "dry-run" if dry_run else "full"}
if dry_run:
    facts.update(device="cpu", device_name=cpu_model_name())
elif cuda:
    props = torch.cuda.get_device_properties(0)
    facts.update(
        device="cuda",
        device_name=torch.cuda.get_device_name(0),
        sm_count=props.multi_processor_count,
        memory_gib=round(props.total_memory / 2**30, 1),
        cuda=torch.version.cuda,
    )
else:
    facts.update(device="none", device_name=None)
for package in ("torch", "torchaudio", "triton", "numba", "speechbrain",
                "speechbrain-protos"):
    try:
        facts[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
        facts[package] = None
facts["triton_importable"] = importlib.util.find_spec("triton") is not None
facts["python"] = platform.python_version()
print(json.dumps(facts))
EOF

# Turns one measure's output into its JSON line: the bench's last JSON line
# with the measure's labels, device and wall time, or an "error" line.
cat >"$WORK/tag.py" <<'EOF'
import json
import sys

name, rc, limit, wall, out_path, err_path, base, *labels = sys.argv[1:]
rc, base = int(rc), json.loads(base)
line = {"measure": name}
for label in labels:
    key, _, value = label.partition("=")
    line[key] = int(value) if value.isdigit() else value
with open(out_path, encoding="utf-8", errors="replace") as fin:
    candidates = [l for l in fin.read().splitlines() if l.startswith("{")]
result = None
if rc == 0 and candidates:
    try:
        result = json.loads(candidates[-1])
    except ValueError:
        result = None
if result is not None:
    line.update(result)
else:
    with open(err_path, encoding="utf-8", errors="replace") as fin:
        tail = [l.rstrip() for l in fin.read().splitlines() if l.strip()][-6:]
    if rc in (124, 137):
        line["error"] = f"timed out after {limit} s"
    elif rc == 0:
        line["error"] = "exited 0 without a JSON line"
    else:
        errors = [l for l in tail if "Error" in l or "error:" in l]
        line["error"] = (errors or tail or [f"exit status {rc}"])[-1][-500:]
    line["exit_status"] = rc
    line["stderr_tail"] = "\n".join(tail)[-2000:]
for key in ("device", "device_name"):
    line.setdefault(key, base.get(key))
line["wall_s"] = float(wall)
print(json.dumps(line))
EOF

cat >"$WORK/skip.py" <<'EOF'
import json
import sys

name, reason, base, *labels = sys.argv[1:]
base = json.loads(base)
line = {"measure": name}
for label in labels:
    key, _, value = label.partition("=")
    line[key] = int(value) if value.isdigit() else value
line.update(skipped=reason, device=base.get("device"),
            device_name=base.get("device_name"))
print(json.dumps(line))
EOF

say() {  # one JSON line: stdout and, if asked, the out file
    printf '%s\n' "$1"
    if [ -n "$OUT_FILE" ]; then printf '%s\n' "$1" >>"$OUT_FILE"; fi
}

if [ "$DRY_RUN" = 0 ]; then
    unset TRITON_INTERPRET
fi
BASE=$("$PYTHON" "$WORK/probe.py" "$DRY_RUN" "$HERE")
DEVICE=$("$PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])["device"])' "$BASE")
TRITON=$("$PYTHON" -c 'import json, sys; print(int(json.loads(sys.argv[1])["triton_importable"]))' "$BASE")
if [ "$DEVICE" = none ]; then
    echo "gpu.sh: no CUDA device (torch.cuda.is_available() is False):" \
        "the full run needs one. Use --dry-run to try the script on the CPU." >&2
    exit 2
fi
say "$("$PYTHON" -c 'import json, sys; print(json.dumps({"measure": "environment", **json.loads(sys.argv[1])}))' "$BASE")"

if [ "$DRY_RUN" = 1 ]; then
    BUDGET=${BUDGET:-110}
    LIBRI=(--K 4 --batch 2 --frames 24 --mels 32)
    SOL=(--K 3 --batch 2 --frames 32 --mels 32)
    LARGE=(--K 8 --batch 4 --frames 24 --mels 32)
    STEPS=(--steps 1)
    INFERENCE=(--K 4 --seconds 1 --batch 2 --repeats 1)
    RECIPE=(--speakers 8 --epochs 1 --batch 8 --frames 16 --workers 0)
    STEP_LIMIT=60; TRITON_LIMIT=90; LARGE_REFERENCE_LIMIT=60; KERNEL_LIMIT=60
    INFERENCE_LIMIT=60; RECIPE_LIMIT=60
else
    BUDGET=${BUDGET:-330}
    LIBRI=(--K 128 --batch 32 --frames 192 --mels 128)
    SOL=(--K 33 --batch 32 --frames 256 --mels 128)
    LARGE=(--K 256 --batch 128 --frames 192 --mels 128)
    STEPS=(--steps 5)
    INFERENCE=(--K 128 --seconds 10 --batch 32 --repeats 5)
    RECIPE=(--speakers 128 --epochs 2 --batch 32 --frames 96 --workers 2)
    STEP_LIMIT=60; TRITON_LIMIT=120; LARGE_REFERENCE_LIMIT=60; KERNEL_LIMIT=60
    INFERENCE_LIMIT=120; RECIPE_LIMIT=150
fi
TRITON_ENV=()
if [ "$DRY_RUN" = 1 ]; then
    TRITON_ENV=(TRITON_INTERPRET=1)
fi

# measure NAME LIMIT [LABEL=VALUE ...] -- [VAR=VALUE ...] COMMAND ...
measure() {
    local name=$1 limit=$2 labels=() left started rc
    shift 2
    while [ "$1" != "--" ]; do labels+=("$1"); shift; done
    shift
    left=$((BUDGET - SECONDS))
    if [ "$left" -lt 10 ]; then
        say "$("$PYTHON" "$WORK/skip.py" "$name" "time budget of $BUDGET s spent" "$BASE" ${labels[@]+"${labels[@]}"})"
        return 0
    fi
    if [ "$limit" -gt "$left" ]; then limit=$left; fi
    started=$(date +%s.%N)
    rc=0
    timeout --kill-after=5 "$limit" env "$@" </dev/null >"$WORK/out" 2>"$WORK/err" || rc=$?
    say "$("$PYTHON" "$WORK/tag.py" "$name" "$rc" "$limit" \
        "$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')" \
        "$WORK/out" "$WORK/err" "$BASE" ${labels[@]+"${labels[@]}"})"
}

skip() {  # skip NAME REASON [LABEL=VALUE ...]
    local name=$1 reason=$2
    shift 2
    say "$("$PYTHON" "$WORK/skip.py" "$name" "$reason" "$BASE" "$@")"
}

NO_TRITON="triton cannot be imported by $PYTHON"
# The dry run leaves out the SOL and large shapes: at tiny sizes they run the
# very code of the LibriSpeech shape, and each process costs seconds of
# imports.
DRY_SKIP="dry run: this shape runs the same code as the LibriSpeech shape"
DRY_BF16="dry run: bf16 is one argument of train_step.py, whose tests run it"

train_step() {  # train_step SHAPE_NAME PATH PRECISION LIMIT SHAPE_ARGS...
    local shape=$1 path=$2 precision=$3 limit=$4 env=()
    shift 4
    local labels=("shape=$shape" "path=$path" "precision=$precision")
    local impl=(--impl fused --backend "$path")
    if [ "$DRY_RUN" = 1 ] && [ "$shape" != librispeech ]; then
        skip train_step "$DRY_SKIP" "${labels[@]}"; return 0
    fi
    if [ "$DRY_RUN" = 1 ] && [ "$precision" != fp32 ]; then
        skip train_step "$DRY_BF16" "${labels[@]}"; return 0
    fi
    case "$path" in
        reference) impl=(--impl reference --backend auto) ;;
        triton)
            if [ "$TRITON" = 0 ]; then skip train_step "$NO_TRITON" "${labels[@]}"; return 0; fi
            env=(${TRITON_ENV[@]+"${TRITON_ENV[@]}"}) ;;
    esac
    measure train_step "$limit" "${labels[@]}" -- ${env[@]+"${env[@]}"} \
        "$PYTHON" "$HERE/train_step.py" "$@" "${STEPS[@]}" "${impl[@]}" \
        --precision "$precision" --device "$DEVICE" --json
}

kernel() {  # kernel SHAPE_NAME BACKEND SHAPE_ARGS...
    local shape=$1 backend=$2 env=()
    shift 2
    local labels=("shape=$shape" "backend=$backend")
    if [ "$DRY_RUN" = 1 ] && [ "$shape" != librispeech ]; then
        skip kernel "$DRY_SKIP" "${labels[@]}"; return 0
    fi
    if [ "$backend" = triton ]; then
        if [ "$TRITON" = 0 ]; then skip kernel "$NO_TRITON" "${labels[@]}"; return 0; fi
        env=(${TRITON_ENV[@]+"${TRITON_ENV[@]}"})
    fi
    measure kernel "$KERNEL_LIMIT" "${labels[@]}" -- ${env[@]+"${env[@]}"} \
        "$PYTHON" "$HERE/kernel.py" "$@" "${STEPS[@]}" --backend "$backend" \
        --device "$DEVICE" --json
}

triton_limit() { if [ "$1" = triton ]; then echo "$TRITON_LIMIT"; else echo "$STEP_LIMIT"; fi; }

# 1. Training step: two shapes x three paths x two precisions, then the large
# shape with the fused backends.
for precision in fp32 bf16; do
    for path in reference torch triton; do
        train_step librispeech "$path" "$precision" "$(triton_limit "$path")" "${LIBRI[@]}"
        train_step sol "$path" "$precision" "$(triton_limit "$path")" "${SOL[@]}"
    done
done
for precision in fp32 bf16; do
    for path in torch triton; do
        train_step large "$path" "$precision" "$(triton_limit "$path")" "${LARGE[@]}"
    done
done

# 2. The kernel alone.
for backend in torch triton; do
    kernel librispeech "$backend" "${LIBRI[@]}"
    kernel sol "$backend" "${SOL[@]}"
    kernel large "$backend" "${LARGE[@]}"
done

# 3. Inference against ECAPA-TDNN (our kernel: the device's default backend).
measure inference "$INFERENCE_LIMIT" -- \
    "$PYTHON" "$HERE/inference.py" "${INFERENCE[@]}" --device "$DEVICE" --json

# 4. The LibriSpeech recipe, bf16, on the shared excerpt (epoch.py finds it,
# or says where it looked).
measure recipe "$RECIPE_LIMIT" precision=bf16 -- \
    "$PYTHON" "$HERE/epoch.py" "${RECIPE[@]}" --runs off_bf16 \
    --device "$DEVICE" --json

# Last, the reference path at the large shape: it materialises [B, T, K, F]
# tensors and may run out of memory or time.
train_step large reference fp32 "$LARGE_REFERENCE_LIMIT" "${LARGE[@]}"
