# `make lab`: JupyterLab on the chapters (the top-level Makefile defines PY, VENV, STAMP).
# Chapters are jupytext percent-format .py files: this JupyterLab opens them as notebooks by default and
# saves back to the .py source, byte for byte unchanged unless you edit a cell (jupytext.toml); outputs
# are not saved (docs/explorer.md). The server serves the repository root, so that jupytext.toml applies,
# listens on 127.0.0.1 only, with a fresh token, and opens the file browser in nbs/.
#   make lab                  open it in your browser
#   make lab LAB_ARGS=...     extra jupyter-lab options (the Lab test adds --no-browser, a port and a token)
#   make labtest              the Lab test (in make test, not in make check): every chapter's explorer driven in chromium
LAB_DIR := build/lab
LAB_ARGS ?=

lab: $(STAMP)
	@mkdir -p $(LAB_DIR)/settings/@jupyterlab/docmanager-extension $(LAB_DIR)/settings/@jupyterlab/apputils-extension
	@echo '{"defaultViewers": {"python": "Jupytext Notebook"}}' \
	  > $(LAB_DIR)/settings/@jupyterlab/docmanager-extension/plugin.jupyterlab-settings
	@# The book works offline: no prompt about fetching Jupyter news, no update check.
	@echo '{"fetchNews": "false", "checkForUpdates": false}' \
	  > $(LAB_DIR)/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings
	JUPYTERLAB_SETTINGS_DIR=$(CURDIR)/$(LAB_DIR)/settings JUPYTERLAB_WORKSPACES_DIR=$(CURDIR)/$(LAB_DIR)/workspaces \
	  $(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/nbs \
	  --ServerApp.ip=127.0.0.1 $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

# The Lab test reuses nbtest's result cache when there is one (a copy: the test's cache stays private), so
# within `make test` the chapters load their stored runs instead of training them a second time. It runs
# each chapter's explorer cell and the cells it needs, not the whole chapter (nbtest does that): see
# docs/explorer.md. The browser is book.mk's $(CHROMIUM) (Debian's chromium, never `playwright install`).
labtest: $(STAMP) | $(CHROMIUM)
	$(PY) -m pytest -q -p no:cacheprovider -m browser tests/lab

BROWSER_STAGES += labtest

.PHONY: lab labtest
