# `make bench-gpu`: each chapter's training step on one CPU thread and on the GPU, side by side in one run,
# recorded in benchmarks/gpu.json (needs a CUDA device; on a machine without one it says so and records
# nothing). benchmarks/README.md quotes the recording; run it with nothing else on the machine.
.PHONY: bench-gpu
bench-gpu: $(STAMP)
	$(PY) benchmarks/gpu.py --record benchmarks/gpu.json
