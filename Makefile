# Two commands on a fresh machine: `make demo` and `make test`. Everything they need is installed from here,
# at the versions of the lock files (with hashes): a fresh install gets what the suite last passed with.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip itself is pinned too; the lock files are installed with --require-hashes --no-deps (they hold the whole closure).
PIP_VERSION := pip==26.3
LOCK := requirements.lock
# CPU machines take the CPU build of torch that lies on disk (pip's find-links); a bare `torch` would pull a
# multi-GB CUDA build. With nvidia-smi present, the CUDA build of the same version comes from the index.
TORCH_CPU_LOCK := requirements-torch-cpu.lock
TORCH_GPU := torch==2.13.0

SANDBOX := .sandbox
SANDBOX_STAMP := $(SANDBOX)/.installed
# The sandbox FHIR server lives in its own venv so that its pins never meet ours.
SEKMET := sekmet-fhir==0.1.1
SANDBOX_LOCK := requirements-sandbox.lock

.PHONY: demo test lint typecheck pytest services bench clean install sandbox chromium lock

install: $(STAMP)

sandbox: $(SANDBOX_STAMP)

$(SANDBOX_STAMP): $(SANDBOX_LOCK)
	test -x $(SANDBOX)/bin/python || $(PYTHON) -m venv $(SANDBOX)
	$(SANDBOX)/bin/python -m pip install -q "$(PIP_VERSION)"
	$(SANDBOX)/bin/python -m pip install -q --require-hashes --no-deps -r $(SANDBOX_LOCK)
	$(SANDBOX)/bin/python -m pip check
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

$(STAMP): pyproject.toml setup.py $(LOCK) $(TORCH_CPU_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(PIP_VERSION)"
	if command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/python -m pip install -q "$(TORCH_GPU)"; \
	else $(BIN)/python -m pip install -q --require-hashes --no-deps -r $(TORCH_CPU_LOCK); fi
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# Refresh the locks on purpose (then run `make test` and `make demo` and commit the three files together).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 \
	  --find-links /opt/wheels --constraint $(TORCH_CPU_LOCK) --no-emit-package torch --quiet -o $(LOCK)
	echo "$(SEKMET)" | $(BIN)/uv pip compile - --generate-hashes --universal --python-version 3.11 --quiet \
	  -o $(SANDBOX_LOCK)

demo: $(STAMP) $(SANDBOX_STAMP)
	$(BIN)/rtletter demo

lint: $(STAMP)
	$(BIN)/ruff check agent cli demo mappers model tests bench
	$(BIN)/ruff format --check agent cli demo mappers model tests bench

# mypy strict on the packages by their import names: .typecheck/rtletter/ links each top-level folder as
# rtletter.<folder> (see pyproject.toml), so the code's own imports resolve to its source instead of to Any; `mypy agent`
# would read each file a second time as agent.<module>. demo/synth (the synthetic cohort and its FHIR/v2 writers) was
# strictly typed as part of mappers; it stays so, and cli/ has been strict since it became one package.
typecheck: $(STAMP)
	$(BIN)/mypy -p rtletter.agent -p rtletter.model -p rtletter.mappers -p rtletter.demo.synth -p rtletter.cli

pytest: $(STAMP) $(SANDBOX_STAMP) services chromium
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/mapping.py

clean:
	rm -rf $(VENV) .sandbox build *.egg-info .pytest_cache .mypy_cache .ruff_cache
