# Two commands for a newcomer: `make book` (execute the chapters, build the site) and `make test`.
# Everything else here is how those two bootstrap themselves on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export OMP_WAIT_POLICY ?= PASSIVE
export PYTHONHASHSEED := 0

.PHONY: help test book lab lint unit nbtest browser precompute bench clean setup

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

lint: $(STAMP)
	$(VENV)/bin/ruff check minilib tests benchmarks nbs book/scripts

unit: $(STAMP)
	$(PY) -m pytest -q -m "not browser" tests

# Every chapter executed top to bottom in fast mode; nbval re-runs the cells (check cells assert).
nbtest: $(STAMP)
	MINILIB_FAST=1 $(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env build/nbs-fast

test: lint unit nbtest-prepare nbtest browser

nbtest-prepare: $(STAMP)
	@rm -rf build/nbs-fast && mkdir -p build/nbs-fast
	@for f in nbs/[0-9][0-9]_*.py; do \
	  $(VENV)/bin/jupytext -q --to ipynb -o build/nbs-fast/$$(basename $${f%.py}).ipynb $$f; done

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=nbs

-include book/book.mk

clean:
	rm -rf build book/_build
