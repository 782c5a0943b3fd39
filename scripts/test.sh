#!/usr/bin/env bash
# Install everything, then run the whole suite: lint, types, unit and integration tests.
# The integration tests start their own registries on 127.0.0.1 and stop them by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts
.venv/bin/mypy src
.venv/bin/lint-imports --no-cache
.venv/bin/pytest -p no:cacheprovider "$@"
