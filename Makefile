# msd-bench developer and user entry points. Every target creates / reuses the venv in $(VENV).
VENV    ?= .venv
PY      := $(VENV)/bin/python
# A CPU build of torch is installed first when the venv has none (override, e.g. TORCH=torch for CUDA).
TORCH   ?= torch==2.13.0
PYTEST  := $(PY) -m pytest
STAMP   := $(VENV)/.installed

.PHONY: venv demo test test-slow lint bench bench-scripts gpu-check schema leaderboard clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

## The main job on the built-in default (see README): a scratch store in $MSD_BENCH_CACHE/demo/, the repository untouched.
demo: $(STAMP)
	$(PY) -m msd_bench.demo

## Fast test suite (what CI runs).
test: $(STAMP)
	$(PYTEST) -q -m "not slow"

## Long checks: full-size datasets, judge accuracy recomputation, GBT references.
test-slow: $(STAMP)
	$(PYTEST) -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check msd_bench tests benchmarks

## Timing benchmarks of the hot paths with pytest-benchmark (tables printed; figures in $(BENCH_JSON)).
## `make test` never collects benchmarks/ (pytest's testpaths is tests/).
BENCH_JSON ?= .benchmarks/bench.json
bench: $(STAMP)
	mkdir -p $(dir $(BENCH_JSON))
	$(PYTEST) benchmarks/ -q --benchmark-json=$(BENCH_JSON)

## The benchmark scripts with their full sweeps (each prints a table; slower).
bench-scripts: $(STAMP)
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

## GPU check (needs a CUDA device; exit 2 without one): evaluate / bench / judge verification on cuda vs cpu.
gpu-check: $(STAMP)
	$(PY) benchmarks/gpu_check.py

## Evaluate submissions and rebuild the leaderboard (SUBMISSIONS="submissions/a submissions/b"; default: every folder).
## EXECUTOR=ray (or slurm): one task per submission x dataset x seed, in parallel, resumable (docs/scale.md);
## e.g. make leaderboard EXECUTOR=ray SUBMIT_FLAGS="--trust-code --address auto". Default: in-process, one by one.
SUBMISSIONS  ?= $(patsubst %/submission.yaml,%,$(wildcard submissions/*/submission.yaml))
SUBMIT_FLAGS ?=
STORE        ?= leaderboard
EXECUTOR     ?= inprocess
leaderboard: $(STAMP)
ifeq ($(EXECUTOR),inprocess)
	@for s in $(SUBMISSIONS); do echo "== $$s"; $(VENV)/bin/msd-bench submit $$s --store $(STORE) --no-build $(SUBMIT_FLAGS) || exit 1; done
	$(VENV)/bin/msd-bench leaderboard build --store $(STORE) --format all
else
	@# a failed unit does not stop the others; the board is built from what was stored, then the exit status is kept
	$(VENV)/bin/msd-bench submit $(SUBMISSIONS) --executor $(EXECUTOR) --store $(STORE) --no-build $(SUBMIT_FLAGS); \
	  status=$$?; $(VENV)/bin/msd-bench leaderboard build --store $(STORE) --format all && exit $$status
endif

schema: $(STAMP)
	$(VENV)/bin/msd-bench schema

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .benchmarks build dist *.egg-info
