# The two set-up commands (see README): `make book` builds the site, `make test` runs every test.
# Both create the virtual environment .venv on first use.
PYTHON ?= python3
# This project's machines carry a local CPU wheel of torch 2.13.0; an unpinned torch would pull GBs
# of CUDA packages. On a GPU machine: make TORCH_SPEC='torch' (or keep the torch you have).
TORCH_SPEC ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Fast mode and headless settings for the test suite and CI-sized builds.
export RELUCOURSE_PROGRESS ?= 0
NB_THREADS ?= 1

.PHONY: env book book-full test test-unit test-notebooks test-notebooks-full test-book test-browser test-stress lint bench lab clean

env: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[book,test,lab]"
	touch $(STAMP)

# `jupyter-book build`, with notebooks executed BOOK_JOBS at a time (default: the cores, at most
# 4; BOOK_JOBS=1 is the plain serial build). See scripts/build_book.py.
JB_BUILD := $(BIN)/python scripts/build_book.py

## The site at full size on any machine (about 9.5 minutes cold on a 2-core Xeon; see performance.md).
## RELUCOURSE_FAST=1 make book builds the fast, small-model site in a few minutes.
book: env
	RELUCOURSE_FAST=$${RELUCOURSE_FAST:-0} RELUCOURSE_STATIC=1 $(JB_BUILD) . -W -n --keep-going
	@echo "Site built: $(CURDIR)/_build/html/index.html"

## All tests: lint, unit tests and notebooks (nbval) in parallel, strict site build, browser tests.
test: env
	$(MAKE) lint test-unit test-notebooks test-book test-browser

lint:
	$(BIN)/ruff check src tests benchmarks scripts _ext chapters labs quizzes

# One torch thread per test worker: two workers of two threads each on two cores spin-wait on
# each other (measured: 110 s with the default threads, 49 s with one).
test-unit:
	OMP_NUM_THREADS=$(NB_THREADS) $(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not browser and not stress" tests

## The notebooks' timing claims, each run 10 times while two busy processes load both cores.
test-stress:
	$(BIN)/python -m pytest -q -m stress tests/test_timing_stress.py

test-notebooks:
	RELUCOURSE_FAST=1 OMP_NUM_THREADS=$(NB_THREADS) $(BIN)/python -m pytest -q -n 2 --dist loadscope \
		--nbval-lax --nbval-current-env chapters labs quizzes

## Every notebook's asserts at full size (not part of `make test`): two notebooks at once, one torch
## thread each, as the site build runs them; on 2 CPU cores it takes about as long as `make book`.
test-notebooks-full:
	RELUCOURSE_FAST=0 OMP_NUM_THREADS=$(NB_THREADS) $(BIN)/python -m pytest -q -n 2 --dist loadscope \
		--nbval-lax --nbval-current-env chapters labs quizzes

test-book:
	rm -rf _build
	RELUCOURSE_FAST=1 RELUCOURSE_STATIC=1 OMP_NUM_THREADS=$(NB_THREADS) $(JB_BUILD) . -W -n --keep-going

test-browser:
	$(BIN)/python -m pytest -q -m browser tests

bench: env
	$(BIN)/python benchmarks/run_all.py

lab: env
	$(BIN)/jupyter lab

clean:
	rm -rf _build .pytest_cache .ruff_cache
