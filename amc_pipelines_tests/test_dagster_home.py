"""Dagster instance files: the generated dagster.yaml and deploy/dagster.yaml load as real
instances, carry the same limits, dagster-postgres works on the project's database, and the `amc`
pool limits runs once an operator sets it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from click.testing import CliRunner

from amc_pipelines.commands.dagster import dagster as dagster_group
from amc_pipelines.dagster_home import (
    AMC_POOL,
    DAGSTER_PG_URL_ENV,
    INSTANCE_PARTITION_TAG,
    INSTANCE_SETTINGS,
    MAX_RUNNING_PER_INSTANCE,
    PENDING_AHEAD_PER_INSTANCE,
    dagster_home,
    render_dagster_yaml,
    url_has_password,
    write_dagster_yaml,
)
from amc_pipelines.db import current, head, psycopg2_url, upgrade
from amc_pipelines.settings import Settings, settings_table

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


@dg.asset(pool=AMC_POOL)
def pool_probe() -> int:
    return 1


def _assert_project_limits(instance: dg.DagsterInstance) -> None:
    """What Dagster itself makes of the file: the queue, the per-instance tag limits, the pool."""
    config = instance.get_concurrency_config()
    queue = config.run_queue_config
    assert queue is not None, "runs must go through the QueuedRunCoordinator"
    assert queue.max_concurrent_runs == INSTANCE_SETTINGS["concurrency"]["runs"]["max_concurrent_runs"]
    (limit,) = queue.tag_concurrency_limits  # the only tag every AMC run carries
    assert limit["key"] == INSTANCE_PARTITION_TAG
    # AMC's 10 running executions plus a few that wait in AMC's own queue.
    assert limit["limit"] == MAX_RUNNING_PER_INSTANCE + PENDING_AHEAD_PER_INSTANCE
    assert MAX_RUNNING_PER_INSTANCE == 10 and 0 <= PENDING_AHEAD_PER_INSTANCE <= 10
    assert limit["value"] == {"applyLimitPerUniqueValue": True}
    assert queue.should_block_op_concurrency_limited_runs  # pools are enforced by the queue
    assert config.pool_config.pool_granularity.value == "run"
    # No default: every run is in the `amc` pool, so one would only repeat max_concurrent_runs.
    assert config.pool_config.default_pool_limit is None
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert instance.run_retries_retry_on_asset_or_op_failure is False
    assert instance.get_settings("telemetry") == {"enabled": False}


def test_generated_yaml_on_postgres_uses_the_project_database(tmp_path: Path, make_database) -> None:
    url = make_database()
    upgrade(url)  # the project's tables first: both sets must live side by side
    home = tmp_path / "dagster_home"
    write_dagster_yaml(home, postgres_url=psycopg2_url(url))
    assert yaml.safe_load((home / "dagster.yaml").read_text())["storage"]["postgres"]["postgres_url"].startswith(
        "postgresql+psycopg2://"
    )

    assert write_dagster_yaml(home, postgres_url=psycopg2_url(url)) is False  # same content: left alone

    with dg.DagsterInstance.from_config(str(home)) as instance:
        _assert_project_limits(instance)
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = dg.materialize([pool_probe], instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id) is not None
    assert current(url) == head()  # Dagster's Alembic did not touch the project's version table


def test_password_is_not_written_into_the_generated_file() -> None:
    text = render_dagster_yaml(postgres_url="postgresql+psycopg2://amc:s3cret@db.internal:5432/amc")
    assert "s3cret" not in text
    assert yaml.safe_load(text)["storage"] == {"postgres": {"postgres_url": {"env": DAGSTER_PG_URL_ENV}}}


def test_deploy_yaml_has_the_same_limits_as_the_generator() -> None:
    deployed = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    assert deployed["storage"] == {"postgres": {"postgres_url": {"env": DAGSTER_PG_URL_ENV}}}
    assert {key: value for key, value in deployed.items() if key != "storage"} == INSTANCE_SETTINGS


def test_deploy_yaml_loads_on_postgres_from_the_environment(
    tmp_path: Path, make_database, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_database()
    upgrade(url)
    home = tmp_path / "deploy_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    monkeypatch.setenv(DAGSTER_PG_URL_ENV, psycopg2_url(url))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        _assert_project_limits(instance)
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert dg.materialize([pool_probe], instance=instance).success
    assert current(url) == head()


def test_env_example_lists_every_setting_and_parses() -> None:
    text = (DEPLOY / ".env.example").read_text()
    assigned = dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    mentioned = {line.lstrip("# ").split("=", 1)[0] for line in text.splitlines() if "=" in line}
    for name, _ in settings_table():
        assert name in mentioned, f"deploy/.env.example does not mention {name}"
    assert {"DAGSTER_HOME", DAGSTER_PG_URL_ENV} <= set(assigned)
    assert assigned[DAGSTER_PG_URL_ENV].startswith("postgresql+psycopg2://")
    settings = Settings.from_env(assigned)  # the example's values are valid settings
    assert settings.database_url is not None and settings.webhook_url is None


def test_cli_init_writes_the_postgres_file_into_the_one_dagster_home(amc_env: Settings) -> None:
    runner = CliRunner()
    first = runner.invoke(dagster_group, ["init"])
    assert first.exit_code == 0, first.output
    target = dagster_home(amc_env) / "dagster.yaml"
    assert target == amc_env.home / "dagster" / "dagster.yaml"
    assert f"{target}: written (Postgres at postgresql+psycopg2://" in first.output
    config = yaml.safe_load(target.read_text())
    written = config.pop("storage")["postgres"]["postgres_url"]
    wanted = psycopg2_url(amc_env.database_url)
    assert written == ({"env": DAGSTER_PG_URL_ENV} if url_has_password(wanted) else wanted)
    assert config == INSTANCE_SETTINGS

    again = runner.invoke(dagster_group, ["init"])
    assert "already up to date" in again.output


def test_amc_pool_limits_runs_only_once_an_operator_sets_it(tmp_path: Path, make_database) -> None:
    """What the run queue decides for a queued run of the `amc` pool while another one is in
    progress: nothing holds it back by default, and `dagster instance concurrency set amc 1` does."""
    from dagster._core.execution.api import create_execution_plan
    from dagster._core.op_concurrency_limits_counter import GlobalOpConcurrencyLimitsCounter

    url = make_database()
    home = tmp_path / "dagster_home"
    write_dagster_yaml(home, postgres_url=psycopg2_url(url))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # Resolved while this instance is Dagster's current one: resolving reads the current instance's
        # definitions state, and another test's instance, gone by now, may still be recorded as current.
        job = dg.Definitions(assets=[pool_probe], jobs=[dg.define_asset_job("probe", [pool_probe])]
                             ).resolve_job_def("probe")

        def run(status: dg.DagsterRunStatus) -> dg.DagsterRun:
            return instance.create_run_for_job(job, execution_plan=create_execution_plan(job), status=status)

        in_progress = run(dg.DagsterRunStatus.STARTED)
        queued = run(dg.DagsterRunStatus.NOT_STARTED)  # as the queue sees it (QUEUED needs a code location)
        assert queued.run_op_concurrency.all_pools == {AMC_POOL}

        def blocked() -> bool:
            storage = instance.event_log_storage
            counter = GlobalOpConcurrencyLimitsCounter(
                instance, [queued], instance.get_run_records(dg.RunsFilter(run_ids=[in_progress.run_id])),
                concurrency_keys=storage.get_concurrency_keys(), pool_limits=storage.get_pool_limits(),
                pool_granularity=instance.get_concurrency_config().pool_config.pool_granularity)
            return counter.is_blocked(queued)

        assert not blocked()  # no default limit: the pool costs nothing until it is set
        instance.event_log_storage.set_concurrency_slots(AMC_POOL, 1)  # `dagster instance concurrency set amc 1`
        assert blocked()  # granularity run: the run in progress holds the one slot
        instance.event_log_storage.set_concurrency_slots(AMC_POOL, 2)
        assert not blocked()
