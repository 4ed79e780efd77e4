#!/usr/bin/env bash
# README command 1: set up the environment, then run the whole study on the built-in demo data.
# Extra arguments go to `kedro run` (e.g. --pipelines ingestion).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
kedro run "$@"
echo "[demo] done. Outputs are under data/; open the pipeline with 'kedro viz run' and the runs with 'kedro mlflow ui'."
