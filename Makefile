# Kassa: two commands do everything on a fresh machine.
#   make demo   creates .venv, installs Kassa, runs the demo
#   make test   installs the dev extra and the suite's system needs, runs ruff, mypy, pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck unit bench soak fuzz sysdeps clean

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
	$(BIN)/ruff check src tests benchmarks fuzz
	$(BIN)/ruff format --check src tests benchmarks fuzz

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

# Long proof runs: the simulator over 100,000 seeds, real-process chaos on SQLite and
# PostgreSQL for many cycles, and the decoder under coverage-guided fuzzing.
FUZZ_SECONDS ?= 600
CHAOS_CYCLES ?= 300
soak: $(DEVSTAMP) sysdeps
	$(BIN)/kassa sim --seeds 100000 --jobs 2
	KASSA_CHAOS_CYCLES=$(CHAOS_CYCLES) KASSA_CHAOS_SEED=$$(date +%s) $(BIN)/pytest -q tests/chaos -k keeps_the_promise

fuzz: $(DEVSTAMP)
	$(BIN)/pip install -q -e '.[dev,fuzz]'
	$(BIN)/python fuzz/seed_corpus.py fuzz/corpus/decode
	$(BIN)/python fuzz/fuzz_decode.py -max_total_time=$(FUZZ_SECONDS) -max_len=1200 fuzz/corpus/decode

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
