# Two commands on a fresh clone: `make sweep` (the main job) and `make test`.
# Each creates .venv if missing and installs torch==2.13.0 (the local CPU build)
# before the package, so no dependency can pull a CUDA build of torch.
#
# pip runs with -qq: errors still show, warnings do not. (On machines whose global pip
# configuration names local indexes that lack most packages, pip warns once per
# package, "Location ... is ignored"; that is the machine's configuration, not ours.)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -qq

.PHONY: sweep test docs lint clean

# Users' data lives outside the repository: $LATENTDIM_DATA names its folder. In this
# repository's development set-up the real MNIST files sit in ../shared/data/mnist;
# where that folder exists (and LATENTDIM_DATA is unset) the tests that read them run,
# elsewhere they are reported as skipped.
LATENTDIM_DATA ?= $(wildcard $(abspath ../shared/data))
export LATENTDIM_DATA

$(BIN)/python:
	@echo "set-up: creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	@echo "set-up: installing torch==2.13.0 (CPU build)"
	@$(PIP) torch==2.13.0
	@touch $@

$(VENV)/.core: pyproject.toml $(VENV)/.torch
	@echo "set-up: installing latentdim (editable) with the dask and baselines extras"
	@$(PIP) -e ".[dask,baselines]"
	@touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.torch
	@echo "set-up: installing latentdim (editable) with the dev extras"
	@$(PIP) -e ".[dev]"
	@touch $@ $(VENV)/.core

sweep: $(VENV)/.core
	OMP_NUM_THREADS=1 $(BIN)/latentdim sweep -v

test: $(VENV)/.dev
	$(BIN)/ruff check .
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

docs: $(VENV)/.dev
	$(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV)
