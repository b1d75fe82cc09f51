# The two commands a newcomer needs: `make compile MODEL=resnet50` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

MODEL ?= resnet50
PROFILE ?=
PRECISION ?=
ARGS ?=

.PHONY: setup compile test test-all bench lint clean trt-stubs

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

# TensorRT's type stubs for mypy (TensorRT itself cannot be installed without NVIDIA's index): the
# tensorrt-stubs wheel without its tensorrt dependency, copied to .lint/stubs (mypy_path in pyproject),
# with the generator's syntax errors patched (parameters named `in`; add_scale_nd's channel_axis).
TRT_STUBS_VERSION ?= 10.13.0.35.1
TRT_STUBS := .lint/stubs/tensorrt/__init__.pyi

$(TRT_STUBS): | $(STAMP)
	rm -rf .lint/stubs .lint/stubs-dl
	$(BIN)/python -m pip download -q --no-deps --dest .lint/stubs-dl tensorrt-stubs==$(TRT_STUBS_VERSION)
	$(BIN)/python -m zipfile -e .lint/stubs-dl/tensorrt_stubs-$(TRT_STUBS_VERSION)-py3-none-any.whl .lint/stubs-dl/wheel
	mkdir -p .lint/stubs
	cp -r .lint/stubs-dl/wheel/tensorrt .lint/stubs-dl/wheel/tensorrt_bindings .lint/stubs/
	sed -i -E 's/([(,] *)in: /\1in_: /g; s/channel_axis: int\) -> IScaleLayer/channel_axis: int = ...) -> IScaleLayer/' \
		.lint/stubs/tensorrt_bindings/*.pyi .lint/stubs/tensorrt/*.pyi
	rm -rf .lint/stubs-dl

trt-stubs: $(TRT_STUBS)

lint: $(STAMP) $(TRT_STUBS)
	$(BIN)/ruff check compile tests benchmarks
	$(BIN)/mypy compile

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
