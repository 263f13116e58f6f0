# `make wheel`: the wheel a student installs, tested with no checkout around it (tests/test_wheel.py): built
# from a copy of this tree, installed alone into a fresh folder (the other packages from .venv), its packaged
# results checked, and chapters 0, 1 and 5 executed in fast mode from an empty folder with a fresh HOME.
# Chapter 5 runs on one worker, the rest on the other (--dist loadgroup). The top-level Makefile defines PY,
# STAMP and XDIST. `make unit` skips the file (it needs MINILIB_WHEEL_TEST=1).
.PHONY: wheel
wheel: $(STAMP)
	MINILIB_WHEEL_TEST=1 $(PY) -m pytest -q -p no:cacheprovider $(XDIST) --dist loadgroup --durations=0 tests/test_wheel.py

TEST_STAGES += wheel
