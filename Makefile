# Two commands for a newcomer: `make book` (execute the chapters, build the site) and `make test`.
# Everything else here is how those two bootstrap themselves on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export OMP_WAIT_POLICY ?= PASSIVE
export PYTHONHASHSEED := 0

.PHONY: help test book lab lint unit nbtest nbtest-prepare kernels results browser precompute bench clean setup

help:
	@echo "make book   execute every chapter at full size and build the site in book/_build/html"
	@echo "make test   lint, unit tests, every chapter under nbval in fast mode, browser test of the site"
	@echo "make lab    open JupyterLab on nbs/ (the .py chapters open as notebooks)"

setup: $(STAMP)

# The CPU build of torch goes in first: a plain `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
	  echo "installing the CPU build of torch"; \
	  if $(PY) -m pip install -q --no-index --no-deps "torch==2.13.0" 2>/dev/null; then \
	    $(PY) -m pip install -q "torch==2.13.0"; \
	  else \
	    $(PY) -m pip install -q torch --index-url "$${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}" \
	      --extra-index-url "$${PIP_INDEX_URL:-https://pypi.org/simple}"; \
	  fi; \
	fi
	$(PY) -m pip install -q -e ".[dev,book]"
	@touch $(STAMP)

LINT_PATHS := $(wildcard minilib tests benchmarks nbs book/scripts)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)

unit: $(STAMP)
	$(PY) -m pytest -q -m "not browser" tests

# Every chapter converted to a notebook and executed top to bottom under nbval in fast mode, from an
# empty result cache (check cells assert the measured signatures).
nbtest: nbtest-prepare
	MINILIB_FAST=1 MINILIB_REQUIRE_RESULTS=1 MINILIB_CACHE=$(CURDIR)/build/nbcache $(PY) -m pytest -q -p no:cacheprovider \
	  --nbval-lax --nbval-current-env build/nbs-fast

nbtest-prepare: $(STAMP)
	@rm -rf build/nbs-fast build/nbcache && mkdir -p build/nbs-fast
	@for f in nbs/[0-9][0-9]_*.py; do \
	  $(VENV)/bin/jupytext -q --to ipynb -o build/nbs-fast/$$(basename $${f%.py}).ipynb $$f; done

# The same checks under another CPU kernel set (ATEN_CPU_CAPABILITY=default: no AVX): every check that
# compares with stored numbers must hold on any machine, so it runs here twice.
kernels: nbtest-prepare
	@rm -rf build/nbcache-default
	ATEN_CPU_CAPABILITY=default $(PY) -m pytest -q -p no:cacheprovider tests/test_shipped.py
	ATEN_CPU_CAPABILITY=default MINILIB_FAST=1 MINILIB_REQUIRE_RESULTS=1 MINILIB_CACHE=$(CURDIR)/build/nbcache-default \
	  $(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env build/nbs-fast

# Every shipped result exists, loads and matches its config (trains nothing).
results: $(STAMP)
	$(PY) -m minilib precompute --check

-include book/book.mk

# Fragments in mk/ (one per topic) add their own targets and append to TEST_STAGES.
TEST_STAGES := lint results unit nbtest kernels browser
-include mk/*.mk

test: $(TEST_STAGES)
	@echo "make test: all stages passed"


# Regenerate the shipped full-size results in results/ (long: see each chapter's precompute command).
precompute: $(STAMP)
	$(PY) -m minilib precompute

# Performance claims: one script per claim, each prints a table.
bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build book/_build
