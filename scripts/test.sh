#!/usr/bin/env bash
# README command 2: set up the environment (if needed), then run the test suite in
# CXR_SYNTH_TEST_WORKERS (default 2) pytest-xdist worker processes, a test module per worker
# (its module fixtures are made once); CXR_SYNTH_TEST_WORKERS=0 runs it in this one process.
# Extra arguments go to pytest (e.g. -m "not slow", -k ingestion).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
python -m pytest -n "${CXR_SYNTH_TEST_WORKERS:-2}" --dist loadscope "$@"
