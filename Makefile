# Two commands on a fresh clone: `make sweep` (the main job) and `make test`.
# Each creates .venv if missing and installs torch==2.13.0 (the local CPU build)
# before the package, so no dependency can pull a CUDA build of torch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: sweep test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	touch $@

$(VENV)/.core: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e ".[dask]"
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.core

sweep: $(VENV)/.core
	OMP_NUM_THREADS=1 $(BIN)/latentdim sweep -v

test: $(VENV)/.dev
	$(BIN)/ruff check .
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV)
