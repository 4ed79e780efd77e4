#!/usr/bin/env bash
# README command 2: set up the environment (if needed), then run the test suite.
# Extra arguments go to pytest (e.g. -m "not slow", -k ingestion).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
python -m pytest "$@"
