# Two commands on a fresh machine: `make demo` and `make test`. Everything they need is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CPU machines take the CPU build of torch that lies on disk; a bare `torch` would pull a multi-GB CUDA build.
TORCH_CPU := torch==2.13.0

SANDBOX := .sandbox
SANDBOX_STAMP := $(SANDBOX)/.installed
# The sandbox FHIR server lives in its own venv so that its pins never meet ours.
SEKMET := sekmet-fhir==0.1.1

.PHONY: demo test lint typecheck pytest services bench clean install sandbox chromium

install: $(STAMP)

sandbox: $(SANDBOX_STAMP)

$(SANDBOX_STAMP):
	test -x $(SANDBOX)/bin/python || $(PYTHON) -m venv $(SANDBOX)
	$(SANDBOX)/bin/python -m pip install -q "$(SEKMET)"
	touch $(SANDBOX_STAMP)

# The worklist's browser tests drive Debian's chromium through Playwright; Playwright never downloads a browser.
CHROMIUM := /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	else echo "error: $(CHROMIUM) is missing and cannot be installed here (not root, no sudo): apt-get install chromium" >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then echo "error: $(CHROMIUM) is missing and apt-get is not available: install Debian's chromium" >&2; exit 1; fi; \
	echo "installing chromium with apt-get (for the worklist's browser tests)"; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	  || { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
	  || { echo "error: apt-get could not install chromium" >&2; exit 1; }; \
	test -x $(CHROMIUM) || { echo "error: chromium installed but $(CHROMIUM) is missing" >&2; exit 1; }

services:
	bash .ci/services.sh

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/python -m pip install -q "$(TORCH_CPU)"; fi
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP) $(SANDBOX_STAMP)
	$(BIN)/rtletter demo

lint: $(STAMP)
	$(BIN)/ruff check agent mappers model tests bench
	$(BIN)/ruff format --check agent mappers model tests bench

typecheck: $(STAMP)
	$(BIN)/mypy mappers

pytest: $(STAMP) $(SANDBOX_STAMP) services chromium
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/mapping.py

clean:
	rm -rf $(VENV) .sandbox build *.egg-info .pytest_cache .mypy_cache .ruff_cache
