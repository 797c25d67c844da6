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
	$(VENV)/bin/zeronas score --space nb201 --index 13714 --proxies params,flops,synflow,naswot,zico
	@if [ -n "$(ZERONAS_DATA)" ] && [ -f "$(ZERONAS_DATA)/nb201/nats_tss_200ep_test_accuracy.csv" ]; then \
	  $(VENV)/bin/zeronas correlate --space nb201 --dataset cifar10 --proxies params,synflow,naswot \
	    --sample 100 --seed 0 --data synthetic --store results/demo.sqlite --out results/demo/correlate.json; \
	else echo "ZERONAS_DATA not set: skipping the correlation demo (see README, Benchmark data)"; fi

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/run.py

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache .hypothesis
