# Two entry points (see README.md): `make demo` and `make test`. Both create or reuse .venv;
# the install step reruns only when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.recon2d3d-installed

# `make test` runs the suite twice: in .venv (everything, torch included), then in .venv-slicer: Python 3.12 with the
# packages of the oldest supported Slicer (5.10) and no torch, as a module meets them inside Slicer.
PYENV_ROOT ?= $(HOME)/.pyenv
PYTHON312 ?= $(firstword $(shell command -v python3.12 >/dev/null 2>&1 && python3.12 -c "" 2>/dev/null && \
	echo python3.12) $(wildcard $(PYENV_ROOT)/versions/3.12*/bin/python3.12))
SLICER_VENV ?= .venv-slicer
SLICER_PACKAGES := Testing/slicer-5.10-packages.txt
SLICER_STAMP := $(SLICER_VENV)/.recon2d3d-installed

.PHONY: setup demo test train-angio train-femur train-femur-mask evaluate-femur train-echo evaluate-echo clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU build on disk, never an unpinned CUDA download.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test,cluster]"
	touch $(STAMP)

$(SLICER_STAMP): pyproject.toml $(SLICER_PACKAGES)
	@test -n "$(PYTHON312)" || { echo "make test: no Python 3.12 found (pyenv install 3.12, or make test PYTHON312=/path/to/python3.12)" >&2; exit 1; }
	test -x $(SLICER_VENV)/bin/python || $(PYTHON312) -m venv $(SLICER_VENV)
	$(SLICER_VENV)/bin/python -m pip install --quiet -r $(SLICER_PACKAGES)
	# --no-deps: the project's own pins (torch, MONAI, the newest numpy) are exactly what this pass leaves out.
	$(SLICER_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(SLICER_STAMP)

demo: $(STAMP)
	$(BIN)/recon2d3d demo --out out/demo

test: $(STAMP) $(SLICER_STAMP)
	$(BIN)/python -m pytest -q Testing
	$(SLICER_VENV)/bin/python -m pytest -q Testing

# Retrain the AngioRecon generator (data generated and cached in runs/angio; MINUTES of training).
MINUTES ?= 60
train-angio: $(STAMP)
	$(BIN)/python -m AngioReconDev.train --work runs/angio --minutes $(MINUTES)

# Retrain the FemurRegistration network: phantoms are generated into runs/femur/cases by a background
# process while training runs; then export, held-out evaluation and the model card.
train-femur: $(STAMP)
	mkdir -p runs/femur
	$(BIN)/python -m FemurRegistrationDev.dataset --work runs/femur --count 400 > runs/femur-cases.log 2>&1 &
	$(BIN)/python -m FemurRegistrationDev.train --work runs/femur --minutes $(MINUTES) --threads 1

# Retrain the femur mask network (FemurMask.pt): 500 training radiograph pairs into runs/femur-masks, 35 minutes of
# training, then its evaluation beside the brightness proposal (the model card's tables).
train-femur-mask: $(STAMP)
	$(BIN)/python -m FemurRegistrationDev.maskdata --work runs/femur-masks --cases 500
	$(BIN)/python -m FemurRegistrationDev.masktrain --work runs/femur-masks --minutes 35 --threads 2
	$(BIN)/python -m FemurRegistrationDev.maskevaluate --cases 100 --parts

# Held-out evaluation of the bundled FemurRegistration model (CASES phantoms x 3 view settings).
CASES ?= 200
evaluate-femur: $(STAMP)
	$(BIN)/python -m FemurRegistrationDev.evaluate --work runs/femur --cases $(CASES) --processes 2

# Retrain the EchoRecon network (S2MNet) in three stages: (1) MINUTES on the simulator's standard views (runs/echo,
# exported to runs/echo/EchoRecon-standard.pt), (2) MINUTES fine-tuned from it on views acquired as scanners vary them
# (runs/echo-varied, --acquisition varied, exported to runs/echo-varied/EchoRecon-varied.pt), (3) ECHO_VIEWS_MINUTES
# fine-tuned from that on the same patients with view dropout (runs/echo-views: A4C and A2C always, the other views
# dropped at random; exported as the bundled model). Patients are generated (shards, reused when present) by a
# background process while stages 1 and 2 train; then the interval calibration of every view set, the view
# classifier's fit, the held-out evaluation of all three splits (varied, standard, out-of-distribution), of every view
# set and of the view classifier, and the model card.
ECHO_CASES ?= 2000
ECHO_VIEWS_MINUTES ?= $(MINUTES)
ECHO_EVALUATE = $(BIN)/python -m EchoReconDev.viewsets --calibrate --evaluate --processes 2 && \
	$(BIN)/python -m EchoReconDev.viewclassifier --fit --work runs/echo-viewcls --cases 200 && \
	$(BIN)/python -m EchoReconDev.viewclassifier --evaluate --work runs/echo-varied --also ood=runs/echo-ood \
	--cases $(CASES) && \
	$(BIN)/python -m EchoReconDev.evaluate --work runs/echo-varied --acquisition varied --cases $(CASES) \
	--also standard=runs/echo --also ood=runs/echo-ood --training runs/echo-views/training.json
train-echo: $(STAMP)
	mkdir -p runs/echo runs/echo-varied runs/echo-views
	$(BIN)/python -m EchoReconDev.dataset --work runs/echo --cases 50 --held-out
	$(BIN)/python -m EchoReconDev.dataset --work runs/echo --cases $(ECHO_CASES) > runs/echo/generate.log 2>&1 &
	$(BIN)/python -m EchoReconDev.train --work runs/echo --cases $(ECHO_CASES) --minutes $(MINUTES) --threads 1 \
		--no-generate --export runs/echo/EchoRecon-standard.pt
	$(BIN)/python -m EchoReconDev.dataset --work runs/echo-varied --cases 50 --held-out --acquisition varied
	$(BIN)/python -m EchoReconDev.dataset --work runs/echo-varied --cases $(ECHO_CASES) --acquisition varied \
		> runs/echo-varied/generate.log 2>&1 &
	$(BIN)/python -m EchoReconDev.train --work runs/echo-varied --cases $(ECHO_CASES) --minutes $(MINUTES) \
		--threads 1 --no-generate --lr 5e-4 --init runs/echo/EchoRecon-standard.pt \
		--export runs/echo-varied/EchoRecon-varied.pt
	$(BIN)/python -m EchoReconDev.train --work runs/echo-views --data runs/echo-varied --cases $(ECHO_CASES) \
		--minutes $(ECHO_VIEWS_MINUTES) --threads 1 --no-generate --lr 2.5e-4 --seed 1 --view-dropout 0.5 \
		--init runs/echo-varied/EchoRecon-varied.pt
	$(ECHO_EVALUATE)

# Held-out evaluation of the bundled EchoRecon model (CASES patients, ED and ES; varied, standard and
# out-of-distribution acquisitions; every view set, after calibrating its interval), Bland-Altman plot, model card.
evaluate-echo: $(STAMP)
	$(ECHO_EVALUATE)

clean:
	rm -rf out .pytest_cache
