# The two commands a newcomer needs: `make compile MODEL=resnet50` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

MODEL ?= resnet50
PROFILE ?=
PRECISION ?=
ARGS ?=

.PHONY: setup compile test test-all bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

compile: $(STAMP)
	$(BIN)/compile run $(MODEL) $(if $(PROFILE),--profile $(PROFILE)) $(if $(PRECISION),--precision $(PRECISION)) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check compile tests benchmarks
	$(BIN)/mypy compile

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
