# effscale: `make run` runs the default study (CPU demo on real Fashion-MNIST), `make test` runs the tests,
# `make test-fast` the tests that start no process and run no Snakemake (the development loop, a few minutes).
# Both set up .venv with pinned versions (make setup) and Debian's dataset-fashion-mnist when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
CORES ?= 2

.PHONY: setup run test test-fast lint dry-run clean

setup: $(VENV)/.installed $(FASHION_MNIST)

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[pipeline,test]'
	touch $@

$(FASHION_MNIST):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dataset-fashion-mnist

run: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --cores $(CORES)
	@cat reports/table1.md

test: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/

dry-run: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake -n --cores $(CORES)

clean:
	rm -rf results logs reports .snakemake
