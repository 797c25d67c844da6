# zeronas: two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0

# Benchmark data: ../shared/data when it exists and ZERONAS_DATA is not already set.
ifeq ($(origin ZERONAS_DATA), undefined)
  ifneq ($(wildcard ../shared/data),)
    ZERONAS_DATA := $(abspath ../shared/data)
  endif
endif
export ZERONAS_DATA

.PHONY: install demo test bench lint clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# the CPU torch wheel first: a bare `pip install torch` would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e '.[dev,plot]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/zeronas spaces
	$(VENV)/bin/zeronas search --space nb201 --searcher evolution --budget 500 --seed 0 \
	  --store results/demo.sqlite --out results/demo/search.json

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/run.py

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache .hypothesis
