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

.PHONY: install demo demo-navigator test bench lint clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# the CPU torch wheel first: a bare `pip install torch` would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e '.[dev,plot,navigator,ray,onnx]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/zeronas spaces
	$(VENV)/bin/zeronas search --space nb201 --searcher evolution --budget 500 --seed 0 \
	  --store results/demo.sqlite --out results/demo/search.json

# the navigator's browser test needs Debian's chromium + chromium-driver: installed here when
# missing and we are root, else the test is skipped with the reason printed
test: install
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; } \
	      || echo "note: could not install chromium: the browser test will be skipped"; \
	  else echo "note: chromium/chromium-driver missing and not root: the browser test will be skipped (apt-get install chromium chromium-driver)"; fi; \
	fi
	$(PY) -m pytest -q

# a short steered search in the navigator, and a screenshot of the page for the README
demo-navigator: install
	$(PY) -m zeronas.navigator.demo --out docs/navigator.png --budget 100 --store results/navigator-demo.sqlite

bench: install
	$(PY) benchmarks/run.py

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache .hypothesis
