# certgate: the two commands are `make run` (the local stack) and `make test` (everything CI runs).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Touched after a successful install: the venv is refreshed only when a requirements file or
# pyproject.toml is newer than it.
STAMP := $(VENV)/.certgate-installed

TOOLS_VENV := .venv-tools
STAGE ?= dev

.PHONY: venv run test lint events clean tools package infra-check bench openapi php-client lock

venv: $(STAMP)

# Real provider clients (requirements-clients.txt) come without their dependencies: the contract tests
# import one module of each, whose runtime needs requirements-dev.txt pins.
# pip runs --quiet: tools wait for the word "ready" in `make run`'s output, and pip's
# "Requirement already satisfied" lines would contain it. pip stays as the venv made it.
# Installed from requirements.lock: every package (transitive ones too) pinned with its hashes, so a
# fresh machine installs exactly what CI tested and a tampered download is refused. The lock is
# made from requirements-dev.txt (which includes requirements.txt) by `make lock`; a test fails
# when a pin there and the lock disagree.
# The client (client/, the `certgate` package and command) is installed editable after the server's
# project: it replaces the `certgate` distribution older checkouts installed from the root. Its
# dependencies (botocore, urllib3, click) are in the lock.
$(STAMP): requirements.lock requirements.txt requirements-dev.txt requirements-clients.txt pyproject.toml client/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-clients.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip install --quiet --no-deps -e ./client
	@touch $@

# Re-lock after changing a pin in requirements*.txt: uv keeps every other version the lock holds.
LOCK_VENV := .venv-lock
lock:
	@test -x $(LOCK_VENV)/bin/uv || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet uv==0.13.9; }
	$(LOCK_VENV)/bin/uv pip compile requirements-dev.txt --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --no-emit-package pip --no-annotate --quiet \
		--custom-compile-command "make lock" -o requirements.lock

run: venv
	exec $(PY) -m devstack.run

# The architecture and the types are tests too: import-linter holds the layers (pyproject.toml),
# mypy checks app.py and chalicelib/ (strict on core/ and service/).
test: venv tools php-client
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) -m tools.openapi --check
	$(PY) -m pytest

# TinyCert's own PHP client runs against the simulator in tests/contract/test_real_tinycert_client.py:
# it needs php with curl. Installed with apt-get where it is missing (a fresh Debian CI machine);
# where that cannot be done the tests say they are skipped.
php-client:
	@if php -r 'exit(function_exists("curl_init") ? 0 : 1);' >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y php-cli php-curl \
		|| { DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y php-cli php-curl; } \
		|| echo "warning: could not install php-cli php-curl; the real TinyCert client tests will be skipped"; \
	else echo "warning: no php with curl and no apt-get; the real TinyCert client tests will be skipped"; fi

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

events: venv
	exec $(PY) -m devstack.events

# cfn-lint and checkov live in their own venv: checkov pins a boto3 the app does not use.
tools: $(TOOLS_VENV)/.certgate-installed

$(TOOLS_VENV)/.certgate-installed: infra/requirements-tools.txt infra/tools.sh
	PYTHON=$(PYTHON) bash infra/tools.sh

# The benchmarks (about 13 minutes; not part of `make test`): ratios measured side by side.
bench: venv
	$(PY) -m bench.run_all

openapi: venv
	$(PY) -m tools.openapi

package: venv
	$(PY) -m infra.build --stage $(STAGE)

infra-check: package tools
	$(PY) -m infra.check out/$(STAGE)/sam.yaml

clean:
	rm -rf $(VENV) $(TOOLS_VENV) $(LOCK_VENV) out .stack .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
