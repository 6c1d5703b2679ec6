# The two README commands: `make demo` and `make test`. Each sets itself up on a fresh machine
# with only Python and pip: it creates .venv if missing and installs what it needs, once.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp

.PHONY: demo test bench lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The core: numpy and the package itself (editable).
$(STAMP)-core: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $@

# Tests and benchmarks also need PyTorch as an oracle, and the `fast` extra (numba kernels,
# MKL GEMMs) so that both the fast paths and their NumPy references are tested. PyTorch is
# spelled exactly `torch==2.13.0`: that takes the CPU build from local disk here instead of a
# multi-GB CUDA download.
$(STAMP)-dev: $(STAMP)-core
	$(PY) -m pip install -q -e ".[dev,bench,fast]" torch==2.13.0
	touch $@

demo: $(STAMP)-core
	$(PY) examples/demo.py

test: $(STAMP)-dev
	$(PY) -m pytest -n 2 --doctest-modules tests src/chainrule

bench: $(STAMP)-dev
	$(PY) benchmarks/run.py

lint: $(STAMP)-dev
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
