# The README's commands. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(abspath $(VENV))/bin/python
INSTALLED := $(VENV)/.installed
# The exact, tested versions every virtualenv here is built from (pip
# constraints file; `make lock` regenerates it, docs/dependencies.md).
LOCK := requirements/lock.txt

# `make demo` options (see the README):
DEMO_OUTPUT ?= results/demo
SOUNDFONT ?=
TEST_SOUNDFONT ?=
INSTRUMENTS ?=
EPOCHS ?=
UNSUPERVISED ?=
DEMO_ARGS := --output $(abspath $(DEMO_OUTPUT)) \
	$(if $(SOUNDFONT),--soundfont $(abspath $(SOUNDFONT))) \
	$(if $(TEST_SOUNDFONT),--test-soundfont $(abspath $(TEST_SOUNDFONT))) \
	$(if $(INSTRUMENTS),--instruments $(INSTRUMENTS)) \
	$(if $(EPOCHS),--epochs $(EPOCHS)) \
	$(if $(filter 1 yes true,$(UNSUPERVISED)),--unsupervised)

.PHONY: setup demo test bench bench-gpu accuracy lock check-latest check-oldest clean

# Create the virtualenv if missing (reused otherwise) and install the package
# with its test and demo extras at the locked versions; re-install when the
# lock or pyproject.toml changes. pip, setuptools and wheel come first, so the
# package's own build uses locked versions too (--no-build-isolation).
# tinysoundfont renders the demo's notes; its pyaudio dependency (live
# playback) does not build without PortAudio and is not needed: --no-deps.
# Last, the compiled dependencies must import together.
setup: $(INSTALLED)

$(INSTALLED): pyproject.toml $(LOCK)
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --constraint $(LOCK) pip setuptools wheel
	$(VENV_PYTHON) -m pip install --constraint $(LOCK) --no-build-isolation -e '.[test,demo]'
	$(VENV_PYTHON) -m pip install --constraint $(LOCK) --no-deps tinysoundfont
	$(VENV_PYTHON) -m speechbrain_protos check
	touch $@

# The main job: render SoundFont notes, train, test, write the gallery.
demo: $(INSTALLED)
	cd recipes/SOL/instrument_id && $(VENV_PYTHON) demo.py $(DEMO_ARGS)

# Unit tests, recipe tests and the library's doctests. The gallery's browser
# test needs Debian's chromium; it is installed here when missing.
test: $(INSTALLED)
	$(VENV_PYTHON) -m speechbrain_protos check
	sh tests/tools/apt_install.sh /usr/bin/chromedriver chromium chromium-driver || \
		echo "the gallery's browser test will skip"
	$(VENV_PYTHON) -m pytest

# Every bench of bench/README.md, one JSON line each (about 5 minutes on
# 2 CPU cores): training step fused vs reference at the LibriSpeech and SOL
# shapes, then fused with bf16 networks, the kernel against the CPU's bound,
# the recipe's test pass batched vs one clip at a time (and batched in bf16),
# training epochs with the feature cache off, on, and on with bf16, and
# inference against SpeechBrain's ECAPA-TDNN.
bench: $(INSTALLED)
	$(VENV_PYTHON) bench/train_step.py --K 128 --batch 32 --frames 192 --mels 128 --steps 5 --impl both --json
	$(VENV_PYTHON) bench/train_step.py --K 33 --batch 32 --frames 256 --mels 128 --steps 5 --impl both --json
	$(VENV_PYTHON) bench/train_step.py --K 128 --batch 32 --frames 192 --mels 128 --steps 5 --precision bf16 --json
	$(VENV_PYTHON) bench/train_step.py --K 33 --batch 32 --frames 256 --mels 128 --steps 5 --precision bf16 --json
	$(VENV_PYTHON) bench/kernel.py --K 128 --batch 32 --frames 192 --mels 128 --json
	$(VENV_PYTHON) bench/kernel.py --K 33 --batch 32 --frames 256 --mels 128 --json
	$(VENV_PYTHON) bench/evaluation.py --speakers 128 --batch 32 --json
	$(VENV_PYTHON) bench/epoch.py --speakers 128 --epochs 3 --json
	$(VENV_PYTHON) bench/inference.py --K 128 --seconds 10 --batch 32 --json

# The GPU benches (bench/gpu.sh, bench/README.md "On a GPU"): training step,
# kernel, inference against ECAPA-TDNN and two bf16 epochs of the LibriSpeech
# recipe on CUDA, one JSON line each, in under 6 minutes; refuses to run
# without CUDA. No virtualenv is built (a GPU machine may have no network):
# it runs .venv/bin/python if there is one, else python3 (or PYTHON=...).
# OUT=FILE (or a folder) also writes the lines there; GPU_ARGS=--dry-run
# tries the script on the CPU at tiny shapes.
GPU_ARGS ?=
bench-gpu:
	bash bench/gpu.sh $(GPU_ARGS)

# The paper's three tables on our data, against the baselines (bench/accuracy.py,
# budgets in bench/accuracy.yaml): writes results/table{1,2,3}_*.md. Finished
# runs are reused; delete results/accuracy/<data set>/<model> to redo one.
accuracy: $(INSTALLED)
	sh tests/tools/apt_install.sh /usr/share/sounds/sf2/FluidR3_GM.sf2 fluid-soundfont-gm
	$(VENV_PYTHON) bench/accuracy.py

# Regenerate $(LOCK) from pyproject.toml's ranges and requirements/holds.txt.
lock:
	PYTHON=$(PYTHON) sh tools/lock.sh

# Drift checks, outside CI: install the newest (or oldest) versions that
# pyproject.toml allows into a throwaway virtualenv, import everything and run
# the smoke tests (pytest -m smoke). PINS="torch==2.13.0 ..." adds pins.
check-latest:
	PYTHON=$(PYTHON) sh tools/check_versions.sh latest $(PINS)

check-oldest:
	PYTHON=$(PYTHON) sh tools/check_versions.sh oldest $(PINS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
