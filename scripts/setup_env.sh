#!/usr/bin/env bash
# Create .venv (if missing) and install cxr-synth with the exact versions in requirements.lock.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (it only installs what changed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# No telemetry from Kedro or MLflow, ever (DO_NOT_TRACK must be the string "true" for MLflow).
export DO_NOT_TRACK=true MLFLOW_DISABLE_TELEMETRY=true KEDRO_DISABLE_TELEMETRY=true

PYTHON="${PYTHON:-python3}"
VENV="${CXR_SYNTH_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"

stamp="$VENV/.cxr-synth-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  echo "[setup] installing cxr-synth and its pinned dependencies (first time: a few minutes)"
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -c requirements.lock -e ".[test]"
  touch "$stamp"
fi
