# The book's make targets, included by the top-level Makefile (which defines PY, VENV and STAMP).
#   make book      execute every chapter at full size and build the site into book/_build/html
#   make browser   build the site in fast mode into build/site-fast and test every chapter page in chromium
#                  (SITE_FROM=build/nbs-executed: from the notebooks `make kernels` executed)
# How it works, and the syntax chapter authors use: book/testing.md.

BOOK_NPM_STAMP := book/node_modules/.installed
# The browser the tests drive: Debian's chromium by default; `make test CHROMIUM=/path/to/chrome` for another.
CHROMIUM ?= /usr/bin/chromium
export MINILIB_CHROMIUM := $(CHROMIUM)

# MathJax comes from npm, pinned by package-lock.json (plotly.js comes from the plotly Python package);
# `npm ci` reinstalls exactly that whenever the lock file changes.
$(BOOK_NPM_STAMP): book/package.json book/package-lock.json
	cd book && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

book: $(STAMP) $(BOOK_NPM_STAMP)
	$(PY) book/scripts/build_book.py --mode full

# Debian's chromium, never `playwright install` (which downloads a browser build from the web).
$(CHROMIUM):
	@command -v apt-get >/dev/null || { \
	  echo "browser test: no browser at $(CHROMIUM), and no apt-get here to install Debian's chromium."; \
	  echo "  Install Chromium or Chrome with your system's package manager (macOS: brew install --cask chromium;"; \
	  echo "  Fedora: dnf install chromium; Arch: pacman -S chromium), then: make test CHROMIUM=/path/to/it"; \
	  exit 1; }
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

# The fast build shares nbtest's result cache (build/nbcache): within `make test` the chapters' stored runs
# are then loaded, not trained a second time. With SITE_FROM=<folder of executed notebooks> (`make test`
# passes build/nbs-executed, which `make kernels` writes) the site is built from those notebooks and no
# chapter is executed again; build_book.py refuses notebooks whose cells differ from nbs/.
SITE_FROM ?=
# What the browser stages share (installed once, before `make test` runs them alongside one another).
browser-setup: $(STAMP) $(BOOK_NPM_STAMP) | $(CHROMIUM)

browser: $(STAMP) $(BOOK_NPM_STAMP) | $(CHROMIUM)
	MINILIB_CACHE=$(CURDIR)/build/nbcache $(PY) book/scripts/build_book.py --mode fast $(if $(SITE_FROM),--executed $(SITE_FROM))
	MINILIB_SITE_DIR=build/site-fast/_build/html $(PY) -m pytest -q -p no:cacheprovider -m browser tests/browser
