# `make lab`: JupyterLab on nbs/ (the top-level Makefile defines PY, VENV, STAMP).
# Chapters are jupytext percent-format .py files: this JupyterLab opens them as notebooks by default and
# saves back to the .py source (no .ipynb copies to drift).
LAB_SETTINGS := build/lab-settings/@jupyterlab/docmanager-extension
lab: $(STAMP)
	@mkdir -p $(LAB_SETTINGS)
	@echo '{"defaultViewers": {"python": "Jupytext Notebook"}}' > $(LAB_SETTINGS)/plugin.jupyterlab-settings
	JUPYTERLAB_SETTINGS_DIR=$(CURDIR)/build/lab-settings $(VENV)/bin/jupyter lab --notebook-dir=nbs \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)
