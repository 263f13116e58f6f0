# Two commands for a newcomer: `make book` (execute the chapters, build the site) and `make test`.
# Everything else here is how those two bootstrap themselves on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export OMP_WAIT_POLICY ?= PASSIVE
export PYTHONHASHSEED := 0

.PHONY: help test check browser-setup book lab lint unit shipped nbtest nbtest-prepare nbs-convert kernels results browser precompute bench clean setup

help:
	@echo "make book   execute every chapter at full size and build the site in book/_build/html"
	@echo "make test   lint, unit tests, shipped results re-derived, every chapter under nbval in fast mode (on two"
	@echo "           CPU kernel sets), browser tests of the site and of JupyterLab; a table of stage times at the end"
	@echo "make check the same without the browser stages (the quick loop)"
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

# Both cores (or all of them): unit tests, shipped re-derivations and chapters run under pytest-xdist.
# Each worker uses one thread (tests/conftest.py; OMP_NUM_THREADS=1 for the chapters' kernels).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
XDIST := -n $(JOBS)

# Unit, science and mutation tests; the shipped re-derivations are the `shipped` stage (one run per kernel set).
unit: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider $(XDIST) --dist loadfile -m "not browser" tests --ignore=tests/test_shipped.py

# Every shipped result re-derived for its early stretch (tests/test_shipped.py), on this CPU's kernels.
shipped: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider $(XDIST) tests/test_shipped.py

# Every chapter converted to a notebook and executed top to bottom under nbval in fast mode, from an
# empty result cache (check cells assert the measured signatures), one chapter per worker at a time.
NBVAL := -p no:cacheprovider $(XDIST) --dist loadfile --nbval-lax --nbval-current-env
nbtest: nbtest-prepare
	OMP_NUM_THREADS=1 MINILIB_FAST=1 MINILIB_REQUIRE_RESULTS=1 MINILIB_CACHE=$(CURDIR)/build/nbcache \
	  $(PY) -m pytest -q $(NBVAL) build/nbs-fast

nbtest-prepare: nbs-convert
	@rm -rf build/nbcache

# The chapters as notebooks (build/nbs-fast), for nbval; the result caches are each stage's own business
# (the Lab test reuses nbtest's, so `make kernels` leaves it in place).
nbs-convert: $(STAMP)
	@rm -rf build/nbs-fast && mkdir -p build/nbs-fast
	@for f in nbs/[0-9][0-9]_*.py; do \
	  $(VENV)/bin/jupytext -q --to ipynb -o build/nbs-fast/$$(basename $${f%.py}).ipynb $$f; done

# The same checks under another CPU kernel set (ATEN_CPU_CAPABILITY=default: no AVX): every check that
# compares with stored numbers must hold on any machine. The shipped re-derivations run once more, and
# the chapters run as the site runs them (MINILIB_BOOK=1: no widgets); the executed notebooks are kept in
# build/nbs-executed (book/scripts/nbval_save.py), and the fast site is built from them (`make browser
# SITE_FROM=build/nbs-executed`, as `make test` does) instead of executing every chapter a third time.
kernels: nbs-convert
	@rm -rf build/nbcache-default build/nbs-executed
	ATEN_CPU_CAPABILITY=default $(PY) -m pytest -q -p no:cacheprovider $(XDIST) tests/test_shipped.py
	ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 MINILIB_BOOK=1 MINILIB_FAST=1 MINILIB_REQUIRE_RESULTS=1 \
	  MINILIB_CACHE=$(CURDIR)/build/nbcache-default MINILIB_EXECUTED_DIR=$(CURDIR)/build/nbs-executed \
	  PYTHONPATH=$(CURDIR)/book/scripts $(PY) -m pytest -q $(NBVAL) -p nbval_save build/nbs-fast

# Every shipped result exists, loads and matches its config (trains nothing).
results: $(STAMP)
	$(PY) -m minilib precompute --check

-include book/book.mk

# Fragments in mk/ (one per topic) add their own targets and append to TEST_STAGES or BROWSER_STAGES.
TEST_STAGES := setup lint results unit shipped nbtest kernels
BROWSER_STAGES := browser
-include mk/*.mk

# `make test` runs every stage; `make check` every stage but those that need a browser (the quick loop).
# Each stage runs as its own make, timed (timed-<stage>); the browser stages (each mostly waiting on a
# page, one core at most) run alongside one another, under make -j, once browser-setup has installed
# what they share, and each one's output is printed when it ends. The table of times is printed at the
# end, also after a failure (up to the stage that failed), and kept in build/stage-times.tsv.
# Measured times: docs/testing.md.
empty :=
space := $(empty) $(empty)
STAGE_TIMES := build/stage-times.tsv
test: STAGES = $(TEST_STAGES) browser-setup $(subst $(space),+,$(strip $(BROWSER_STAGES)))
check: STAGES = $(TEST_STAGES)
test check:
	@mkdir -p build; : > $(STAGE_TIMES); status=0; all=$$(date +%s); \
	for group in $(STAGES); do \
	  stages=$${group//+/ }; \
	  if [ "$$stages" = "$$group" ]; then $(MAKE) --no-print-directory timed-$$group || { status=1; break; }; \
	  else $(MAKE) --no-print-directory -j $$(wc -w <<< "$$stages") --output-sync=recurse \
	      CONCURRENT="$${stages// /, }" $$(printf 'timed-%s ' $$stages) || { status=1; break; }; fi; \
	done; \
	echo; echo "make $@: time per stage ($(JOBS) pytest workers)"; \
	awk -F'\t' '{ printf "  %-14s %3d:%02d  %s\n", $$1, $$2 / 60, $$2 % 60, $$3 }' $(STAGE_TIMES); \
	t=$$(( $$(date +%s) - all )); printf '  %-14s %3d:%02d\n' "total (wall)" $$((t / 60)) $$((t % 60)); \
	if [ $$status = 0 ]; then echo "make $@: all stages passed"; else echo "make $@: a stage FAILED"; fi; \
	exit $$status

CONCURRENT ?=
timed-%:
	@echo "== make $*$(if $(CONCURRENT), (alongside: $(CONCURRENT)))"; start=$$(date +%s); \
	if $(MAKE) --no-print-directory $* SITE_FROM=build/nbs-executed; then r=passed; else r=FAILED; fi; \
	printf '%s\t%s\t%s\n' "$*" "$$(( $$(date +%s) - start ))" "$$r$(if $(CONCURRENT), (concurrent: $(CONCURRENT)))" \
	  >> $(STAGE_TIMES); \
	[ $$r = passed ]

# Regenerate the shipped full-size results in results/ (long: see each chapter's precompute command).
precompute: $(STAMP)
	$(PY) -m minilib precompute

# Performance claims: one script per claim, each prints a table.
bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build book/_build
