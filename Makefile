# snnc: `make demo` and `make test` set everything up from nothing (a .venv) and run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: setup test test-all demo lint bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "snnc needs Python 3.11 (TensorFlow 2.12)"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test]"
	$(BIN)/python -m pip check
	touch $(STAMP)

setup: $(STAMP)

## the fast default test set (slow tests: make test-all)
test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ""

## compile the bundled digits CNN and report its spiking accuracy on the held-out split
demo: $(STAMP)
	$(BIN)/python examples/digits/demo.py

lint: $(STAMP)
	$(BIN)/ruff check snnc ir passes codegen tests examples benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/accuracy.py
	$(BIN)/python benchmarks/kernel_speed.py
	$(BIN)/python benchmarks/event_cost.py
	$(BIN)/python benchmarks/fused_cost.py
	$(BIN)/python benchmarks/loihi_emulator.py
	$(BIN)/python benchmarks/compile_time.py
	$(BIN)/python benchmarks/bench_sim.py
	$(BIN)/python benchmarks/bench_coverage.py

clean:
	rm -rf $(VENV) out build *.egg-info
