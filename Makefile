# Kassa: two commands do everything on a fresh machine.
#   make demo   creates .venv, installs Kassa, runs the demo
#   make test   installs the dev extra and the suite's system needs, runs ruff, mypy, pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck unit bench soak sysdeps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP) $@

demo: $(STAMP)
	$(BIN)/kassa demo

# System packages the suite needs: a PostgreSQL server (the suite starts its own cluster).
sysdeps:
	@bash scripts/sysdeps.sh

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(DEVSTAMP)
	$(BIN)/mypy

unit: $(DEVSTAMP) sysdeps
	$(BIN)/pytest -q -n 2 --dist loadgroup

test: lint typecheck unit

bench: $(DEVSTAMP) sysdeps
	$(BIN)/python benchmarks/codec.py
	$(BIN)/python benchmarks/host.py --quick
	$(BIN)/python benchmarks/terminal.py --quick
	$(BIN)/python benchmarks/recon.py --quick

# The deterministic fault simulator over many seeds (a few minutes per 10,000 on 2 cores).
soak: $(DEVSTAMP)
	$(BIN)/kassa sim --seeds 100000 --jobs 0

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
