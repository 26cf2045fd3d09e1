#!/bin/sh
# Drift check: does the package still install and work at the edges of the
# ranges pyproject.toml declares? (`make check-latest`, `make check-oldest`)
#
#   sh tools/check_versions.sh latest|oldest [PIN ...]
#
# latest: pip resolves the newest versions the ranges allow.
# oldest: uv resolves the oldest version of every direct dependency the
#         ranges allow (--resolution lowest-direct); pip installs that set.
# PINs ("torch==2.13.0") are added as constraints, to try one release.
#
# pip reads no configuration file (PIP_CONFIG_FILE=/dev/null), where a
# machine-wide constraint would hide the newest releases, and no local wheel
# folder or extra index (PIP_FIND_LINKS, PIP_EXTRA_INDEX_URL), which may hold
# builds that differ from the index's: a CPU-only torch 2.13.0+cpu there
# satisfies torch==2.13.0, and PyPI's torchaudio cannot load beside it.
# PIP_INDEX_URL still applies, for a mirror.
#
# Everything goes into a throwaway virtualenv (deleted afterwards, the
# checkout's .venv is not touched). It prints the versions it got, checks
# that the compiled dependencies import, imports every module of the library
# and runs the smoke tests (pytest -m smoke, a few minutes on 2 cores). It
# exits non-zero when any step fails.
set -eu
cd "$(dirname "$0")/.."

mode=${1:?usage: check_versions.sh latest|oldest [PIN ...]}
shift
PYTHON=${PYTHON:-python3}
UV_VERSION=$(sed -n 's/^UV_VERSION=//p' tools/lock.sh)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
venv="$work/venv"
"$PYTHON" -m venv "$venv"
: > "$work/pins.txt"
for pin in "$@"; do echo "$pin" >> "$work/pins.txt"; done

export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL
"$venv/bin/python" -m pip install --quiet --upgrade pip setuptools wheel
case "$mode" in
latest)
    "$venv/bin/python" -m pip install --upgrade --upgrade-strategy eager \
        --constraint "$work/pins.txt" '.[test,demo]'
    ;;
oldest)
    "$venv/bin/python" -m pip install --quiet "uv==$UV_VERSION"
    UV_PYTHON_DOWNLOADS=never "$venv/bin/uv" pip compile pyproject.toml \
        --extra test --extra demo --resolution lowest-direct \
        --python "$venv/bin/python" --constraint "$work/pins.txt" \
        --no-header --no-annotate --output-file "$work/oldest.txt"
    "$venv/bin/python" -m pip install --constraint "$work/oldest.txt" \
        --constraint "$work/pins.txt" '.[test,demo]'
    ;;
*)
    echo "unknown mode '$mode': expected latest or oldest" >&2
    exit 2
    ;;
esac
"$venv/bin/python" -m pip install --quiet --no-deps tinysoundfont

echo "== $mode: versions installed"
"$venv/bin/python" -m pip list --format=freeze | grep -i -E \
    '^(torch|torchaudio|speechbrain|numba|llvmlite|numpy|scipy|hyperpyyaml|soundfile|matplotlib|pytest)=='
echo "== import check"
"$venv/bin/python" -m speechbrain_protos check
echo "== every module imports"
"$venv/bin/python" - <<'EOF'
import importlib
import pkgutil

import speechbrain_protos

names = [
    module.name
    for module in pkgutil.walk_packages(
        speechbrain_protos.__path__, prefix="speechbrain_protos."
    )
]
for name in names:
    importlib.import_module(name)
print(f"{len(names)} modules import")
EOF
echo "== smoke tests"
# From the checkout, against the installed (not editable) package.
"$venv/bin/python" -m pytest -m smoke -p no:cacheprovider -q tests
