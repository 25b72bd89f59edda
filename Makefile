# Two entry points (see README.md): `make demo` and `make test`. Both create or reuse .venv;
# the install step reruns only when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.recon2d3d-installed

.PHONY: setup demo test train-angio clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU build on disk, never an unpinned CUDA download.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/recon2d3d demo --out out/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q Testing

# Retrain the AngioRecon generator (data generated and cached in runs/angio; MINUTES of training).
MINUTES ?= 60
train-angio: $(STAMP)
	$(BIN)/python -m AngioReconLib.train --work runs/angio --minutes $(MINUTES)

clean:
	rm -rf out .pytest_cache
