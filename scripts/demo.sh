#!/usr/bin/env bash
# Set everything up, start a sandbox registry on 127.0.0.1 with realistic content, and run
# regsweep's main job on it: the dry run, the real run, then skopeo pulls every kept tag.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
