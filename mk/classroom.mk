# `make classroom`: student and teacher editions of every chapter and an nbgrader course folder, all in
# build/classroom/ (the top-level Makefile defines PY, VENV, STAMP). book/scripts/classroom.py says what each
# edition holds. Executing the teacher notebooks measures each chapter's time into build/classroom/timings.json
# (shown in build/classroom/README.md); nothing tracked is rewritten.
#   make classroom                       teacher notebooks executed at full size (what a class runs)
#   make classroom CLASSROOM_MODE=fast   executed in fast mode (MINILIB_FAST=1), for a quick look
# The tests of the editions (tests/test_classroom.py, tests/test_exercises.py) and of grading with real
# nbgrader (tests/test_nbgrader.py) run in `make unit`; the teacher notebook is the chapter with its
# solutions, which `make nbtest` executes under nbval.
CLASSROOM_MODE ?= full

.PHONY: classroom
classroom: $(STAMP)
	$(PY) book/scripts/classroom.py --mode $(CLASSROOM_MODE)
