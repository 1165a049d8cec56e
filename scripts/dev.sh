#!/usr/bin/env bash
# `make dev`: the AMC sandbox in the background and the Dagster UI on http://127.0.0.1:3000.
set -euo pipefail
cd "$(dirname "$0")/.."
export AMC_HOME="${AMC_HOME:-$PWD/.amc}"
export DAGSTER_HOME="${DAGSTER_HOME:-$AMC_HOME/dagster}"
.venv/bin/amc dagster init --dagster-home "$DAGSTER_HOME"

.venv/bin/amc db upgrade
.venv/bin/amc sandbox register
.venv/bin/amc sandbox serve --latency "${AMC_SANDBOX_LATENCY:-5-20}" --log-level warning &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null || true' EXIT
exec_dagster() { .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p "${DAGSTER_PORT:-3000}"; }
exec_dagster
