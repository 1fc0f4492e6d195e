# Every target does its own set-up: a fresh clone needs only python3 (>= 3.10) and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.olsnet-installed
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
# Without a GPU, PyTorch's CPU build: from the configured indexes when they have it, else from
# PyTorch's own CPU index (asked only for torch, so other packages never wait on it).
ifeq ($(HAS_GPU),yes)
  CONSTRAINTS := constraints/gpu.txt
else
  CONSTRAINTS := constraints/cpu.txt
endif
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: demo test bench lint install clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(CONSTRAINTS) torch \
	  || $(PY) -m pip install -q -c $(CONSTRAINTS) --index-url $(TORCH_CPU_INDEX) torch
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/olsnet demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
