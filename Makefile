# Every target installs what it needs into .venv first, and is safe to run again.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AMC_HOME ?= $(CURDIR)/.amc

.PHONY: install test lint dev demo bench postgres chromium clean

install: $(STAMP) $(DBT_MANIFEST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The dbt manifest the Dagster code location reads (dagster-dbt's prepare_if_dev acts only under
# `dagster dev`): parsed again when a dbt project file changes.
DBT_MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -path dbt_project/logs -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)
$(DBT_MANIFEST): $(STAMP) $(DBT_SOURCES)
	$(BIN)/python -c "from amc_pipelines.marts import ensure_manifest; ensure_manifest()"
	@touch $(DBT_MANIFEST)

# CI's machine has PostgreSQL on 127.0.0.1:5432 but it may be stopped; without one the
# tests fall back to the embedded server.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null \
	  || (command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -n 1) main start && sleep 1) \
	  || echo "No PostgreSQL on 127.0.0.1:5432: tests use the embedded server."

# The end-to-end test screenshots the Dagster UI with headless Chromium (Debian's `chromium`).
# Installed only where it is missing and apt can install it (CI: root on Debian); elsewhere the
# screenshot test skips, except under CI=true, where it fails.
chromium:
	@command -v chromium >/dev/null 2>&1 \
	  || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
	       && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium is missing and apt cannot install it here: the screenshot test skips (fails under CI=true)."

test: install postgres chromium
	$(BIN)/pytest -n 2 --durations=15
	@# Again the tests that read the clock, at every moment of the week's sweep (fixtures/clock.py);
	@# 4 workers: these tests mostly wait on the sandbox and Postgres (measured in docs/benchmarks.md).
	$(BIN)/pytest -n 4 -q -m "clock and not slow" --clock-sweep

lint: install
	$(BIN)/ruff check amc_pipelines amc_pipelines_tests benchmarks

# `make dev` and `make demo` run the same deployment on AMC_HOME/dagster (amc_pipelines/deployment/):
# the AMC sandbox, a code server, the webserver and the daemon, Postgres storage. dev runs until
# Ctrl-C; demo runs two backfills and stops. DAGSTER_PORT=N: another port for the UI.
dev: install
	$(BIN)/amc dagster dev $(if $(DAGSTER_PORT),--port $(DAGSTER_PORT))

demo: install
	$(BIN)/amc dagster demo $(if $(DAGSTER_PORT),--port $(DAGSTER_PORT))

# One benchmark at a time (they measure; the machine has 2 cores): make bench BENCH=marts ARGS="--weeks 6"
BENCHMARKS := $(filter-out host,$(basename $(notdir $(wildcard benchmarks/*.py))))
bench: install
	@if [ -z "$(BENCH)" ]; then echo "usage: make bench BENCH=<one of: $(BENCHMARKS)> [ARGS='...']; see docs/benchmarks.md"; exit 2; fi
	$(BIN)/python benchmarks/$(BENCH).py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
