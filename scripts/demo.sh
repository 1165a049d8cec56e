#!/usr/bin/env bash
# `make demo`: embedded Postgres, the AMC sandbox on loopback (1-3 s per execution), the sandbox's
# instances registered, then scripts/demo.py: a Dagster webserver + daemon on Postgres storage and
# one partition backfill per report (campaign_performance, new_to_brand) x the newest 8 weeks x the
# first two instances, launched over GraphQL. Run it again: every week is reused, zero new AMC
# executions. Exit status 1 when a partition failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export AMC_HOME="${AMC_HOME:-$PWD/.amc}"
export AMC_SANDBOX_PORT="${AMC_SANDBOX_PORT:-8765}"
export AMC_API_URL="http://127.0.0.1:${AMC_SANDBOX_PORT}"
amc=.venv/bin/amc

echo "== database"; $amc db upgrade
echo "== AMC sandbox on $AMC_API_URL"
$amc sandbox serve --port "$AMC_SANDBOX_PORT" --latency "${AMC_SANDBOX_LATENCY:-1-3}" --log-level warning &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do  # the first start generates the synthetic data (about 20 s at demo size)
  curl -fs "$AMC_API_URL/_sandbox/health" >/dev/null 2>&1 && break
  kill -0 "$sandbox_pid" 2>/dev/null || { echo "the sandbox did not start" >&2; exit 1; }
  sleep 1
done
echo "== instances"; $amc sandbox register
echo "== backfills"; .venv/bin/python scripts/demo.py "$@"
