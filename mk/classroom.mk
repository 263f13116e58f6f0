# `make classroom`: student and teacher editions of every chapter in build/classroom/ (the top-level Makefile
# defines PY, VENV, STAMP). book/scripts/classroom.py says what each edition holds; executing the teacher
# notebooks records each chapter's time in results/timings.json, which the chapters show at the top.
#   make classroom                       teacher notebooks executed at full size (what a class runs)
#   make classroom CLASSROOM_MODE=fast   executed in fast mode (MINILIB_FAST=1), for a quick look
# The tests of the editions (tests/test_classroom.py, tests/test_exercises.py) run in `make unit`; the
# teacher notebook is the chapter with its solutions, which `make nbtest` executes under nbval.
CLASSROOM_MODE ?= full

.PHONY: classroom
classroom: $(STAMP)
	$(PY) book/scripts/classroom.py --mode $(CLASSROOM_MODE)
