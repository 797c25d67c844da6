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
	$(VENV)/bin/zeronas proxies
	$(VENV)/bin/zeronas score --space nb201 --index 13714 --proxies params,flops
	$(VENV)/bin/zeronas score --space nb201 --index 13714 --dataset ImageNet16-120 --proxies params,flops

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/run.py

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache .hypothesis
