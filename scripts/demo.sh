#!/usr/bin/env bash
# `make demo` on the embedded defaults: embedded Postgres migrated, the sandbox's synthetic AMC
# instances registered, and the campaign-performance report run for the last complete week of each
# instance through the sandbox's AMC SQL engine. (The Dagster backfill replaces the last step once
# the report assets exist.)
set -euo pipefail
cd "$(dirname "$0")/.."
export AMC_HOME="${AMC_HOME:-$PWD/.amc}"
amc=.venv/bin/amc
started=$(date +%s)

echo "== database"; $amc db upgrade; $amc db url
echo "== sandbox instances"; $amc sandbox register
echo "== registry"; $amc instances list

query=amc_pipelines/sandbox/examples/01_campaign_performance_sp_sb_sd_dsp.sql
$amc sandbox instances --json | .venv/bin/python -c '
import json, sys
for i in json.load(sys.stdin):
    print(i["instance_id"], i["timezone"])' |
while read -r instance timezone; do
  # Last complete Monday-to-Monday week that is older than the 48 h data lag, in the instance's zone.
  end=$(TZ="$timezone" date -d "$(TZ="$timezone" date -d '2 days ago' +%F) -$(( ($(TZ="$timezone" date -d '2 days ago' +%u) + 6) % 7 )) days" +%F)
  start=$(date -d "$end -7 days" +%F)
  echo "== campaign performance, $instance, $start .. $end ($timezone)"
  $amc sandbox run-sql "$query" --instance "$instance" --timezone "$timezone" \
      --start "${start}T00:00:00" --end "${end}T00:00:00" | .venv/bin/python -c '
import csv, sys
rows = list(csv.DictReader(sys.stdin))
spend = sum(float(r["spend"] or 0) for r in rows); sales = sum(float(r["product_sales"] or 0) for r in rows)
print(f"{len(rows)} campaign rows, spend {spend:,.2f}, attributed sales {sales:,.2f}")
for r in rows[:5]:
    print("  %-20s %-48s impressions %8s" % (r["ad_product"], r["campaign"][:48], format(int(r["impressions"]), ",")))'
done
echo "== done in $(( $(date +%s) - started )) s"
