# The README's commands. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: setup test bench clean

# Create the virtualenv if missing (reused otherwise) and install the
# package with its test extras; re-install when setup.py changes.
setup: $(INSTALLED)

$(INSTALLED): setup.py
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --upgrade-strategy only-if-needed -e '.[test]'
	touch $@

# Unit tests and the library's doctests.
test: $(INSTALLED)
	$(VENV_PYTHON) -m pytest

# Training-step speed and memory at the paper's LibriSpeech shape, both paths.
bench: $(INSTALLED)
	$(VENV_PYTHON) bench/train_step.py --K 128 --batch 32 --frames 192 --mels 128 --steps 5 --impl fused --json
	$(VENV_PYTHON) bench/train_step.py --K 128 --batch 32 --frames 192 --mels 128 --steps 5 --impl reference --json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
