#!/usr/bin/env bash
# Creates (or refreshes) .venv-tools with the template checkers of infra/requirements-tools.txt.
# A virtualenv of its own: checkov pins boto3/botocore to versions that clash with the project's.
# Usage: bash infra/tools.sh    (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${CERTGATE_TOOLS_VENV:-.venv-tools}"
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
# --quiet: `make test` output stays readable; pip still prints errors.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r infra/requirements-tools.txt
touch "$VENV/.certgate-installed"
