"""The BigQuery stand-in through the real google-cloud-bigquery client over HTTP on 127.0.0.1:
queries with paging, query_and_wait, list_rows, metadata, dry runs, parameters, TIMESTAMPs, errors,
the client's own retries through injected faults, and expired results."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from google.api_core import exceptions
from google.cloud import bigquery as bq

from amc_pipelines_tests.fixtures.bigquery import ASIN, DATASET, PROJECT, SQP

ORDERED = f"SELECT account_id, start_date, asin, search_query, search_query_volume, updated_at FROM {SQP} ORDER BY account_id, start_date, asin, search_query"


def _tuples(rows) -> list[tuple]:
    return [tuple(row.values()) for row in rows]


def test_query_result_pages_through_get_query_results(bigquery_sandbox) -> None:
    job = bigquery_sandbox.client.query(ORDERED + " LIMIT 2500")
    rows = _tuples(job.result(page_size=600))
    assert len(rows) == 2500 and rows == sorted(rows, key=lambda r: r[:4])
    stats = bigquery_sandbox.stats()
    assert stats["jobs_created"] == 1 and stats["pages_served"] >= 5
    assert stats["calls"]["jobs.getQueryResults"] >= 5
    assert job.destination.dataset_id == "_anon" and job.total_bytes_processed > 0


def test_query_and_wait_pages_and_names_anonymous_columns(bigquery_sandbox) -> None:
    rows = bigquery_sandbox.client.query_and_wait(ORDERED + " LIMIT 1000", page_size=300)
    assert rows.total_rows == 1000 and len(_tuples(rows)) == 1000
    assert bigquery_sandbox.stats()["calls"]["jobs.query"] == 1
    (row,) = bigquery_sandbox.client.query_and_wait(f"SELECT count(*), max(start_date) AS newest FROM {SQP}")
    assert list(row.keys()) == ["f0_", "newest"] and row["f0_"] == 4992
    assert row["newest"] == dt.date(2026, 3, 1)  # the newest week landed by Wednesday 2026-03-11


def test_list_rows_pages_with_selected_fields(bigquery_sandbox) -> None:
    client = bigquery_sandbox.client
    table = client.get_table(f"{PROJECT}.{DATASET}.search_query_performance")
    selected = [field for field in table.schema if field.name in ("search_query", "asin", "updated_at")][::-1]
    rows = list(client.list_rows(table, selected_fields=selected, page_size=1000))
    assert len(rows) == table.num_rows == 4992
    assert list(rows[0].keys()) == [field.name for field in selected]
    assert isinstance(rows[0]["updated_at"], dt.datetime) and rows[0]["updated_at"].tzinfo is not None
    assert bigquery_sandbox.stats()["calls"]["tabledata.list"] == 5
    window = list(client.list_rows(table, start_index=10, max_results=3, selected_fields=selected))
    assert _tuples(window) == _tuples(rows[10:13])


def test_metadata_table_schema_tables_and_dataset(bigquery_sandbox) -> None:
    client = bigquery_sandbox.client
    table = client.get_table(f"{PROJECT}.{DATASET}.search_query_performance")
    types = {field.name: field.field_type for field in table.schema}
    assert types["start_date"] == "DATE" and types["updated_at"] == "TIMESTAMP"
    assert types["search_query_volume"] == "INTEGER" and types["asin_click_share"] == "FLOAT"
    assert types["asin_median_click_price_amount"] == "NUMERIC"
    assert table.num_bytes > 0 and table.location == "US"
    assert [t.table_id for t in client.list_tables(DATASET)] == ["asin_performance", "search_query_performance"]
    assert [t.table_id for t in client.list_tables(DATASET, page_size=1)] == ["asin_performance", "search_query_performance"]
    assert client.get_dataset(DATASET).location == "US"
    assert [d.dataset_id for d in client.list_datasets()] == [DATASET]


def test_dry_run_reports_the_bytes_of_the_columns_read(bigquery_sandbox) -> None:
    client = bigquery_sandbox.client
    config = bq.QueryJobConfig(dry_run=True)
    one = client.query(f"SELECT search_query_volume FROM {SQP}", job_config=config).total_bytes_processed
    two = client.query(f"SELECT search_query_volume, start_date FROM {SQP}", job_config=config).total_bytes_processed
    everything = client.query(f"SELECT * FROM {SQP}", job_config=config).total_bytes_processed
    assert one == 4992 * 8 and two == 2 * 4992 * 8
    assert everything == client.get_table(f"{PROJECT}.{DATASET}.search_query_performance").num_bytes
    assert bigquery_sandbox.stats()["jobs_created"] == 0


def test_named_positional_and_array_parameters(bigquery_sandbox) -> None:
    client = bigquery_sandbox.client
    asins = [row["asin"] for row in client.query_and_wait(f"SELECT DISTINCT asin FROM {ASIN} ORDER BY asin LIMIT 2")]
    named = bq.QueryJobConfig(query_parameters=[
        bq.ArrayQueryParameter("asins", "STRING", asins),
        bq.ScalarQueryParameter("week", "DATE", dt.date(2026, 3, 1)),
        bq.ScalarQueryParameter("minimum", "INT64", 0),
        bq.ScalarQueryParameter("share", "FLOAT64", 0.0),
        bq.ScalarQueryParameter("price", "NUMERIC", Decimal("0.01")),
        bq.ScalarQueryParameter("yes", "BOOL", True),
    ])
    rows = client.query_and_wait(
        f"SELECT asin FROM {ASIN} WHERE asin IN UNNEST(@asins) AND start_date = @week AND clicks > @minimum "
        "AND unit_session_percentage >= @share AND ordered_product_sales_amount >= @price AND @yes ORDER BY asin",
        job_config=named)
    assert [row["asin"] for row in rows] == asins
    positional = bq.QueryJobConfig(query_parameters=[bq.ScalarQueryParameter(None, "STRING", asins[0]),
                                                     bq.ScalarQueryParameter(None, "DATE", dt.date(2026, 3, 1))])
    rows = client.query(f"SELECT asin, start_date FROM {ASIN} WHERE asin = ? AND start_date = ?", job_config=positional).result()
    assert _tuples(rows) == [(asins[0], dt.date(2026, 3, 1))]
    # A value that would break SQL text is bound, never spliced.
    quoted = bq.QueryJobConfig(query_parameters=[bq.ScalarQueryParameter("q", "STRING", "x' OR '1'='1")])
    assert list(client.query_and_wait(f"SELECT asin FROM {ASIN} WHERE asin = @q", job_config=quoted)) == []


def test_timestamps_travel_as_int64_microseconds(bigquery_sandbox) -> None:
    moment = dt.datetime(2026, 3, 9, 6, 0, 0, 123456, tzinfo=dt.UTC)
    config = bq.QueryJobConfig(query_parameters=[bq.ScalarQueryParameter("ts", "TIMESTAMP", moment)])
    (row,) = bigquery_sandbox.client.query_and_wait("SELECT @ts AS ts, TIMESTAMP_ADD(@ts, INTERVAL 1 DAY) AS later",
                                                    job_config=config)
    assert row["ts"] == moment and row["later"] == moment + dt.timedelta(days=1)
    import httpx

    job = bigquery_sandbox.client.query(f"SELECT updated_at FROM {SQP} ORDER BY updated_at DESC LIMIT 1", job_config=config)
    job.result()
    url = f"{bigquery_sandbox.server.url}/bigquery/v2/projects/{PROJECT}/queries/{job.job_id}"
    as_int = httpx.get(url, params={"formatOptions.useInt64Timestamp": "true"}).json()["rows"][0]["f"][0]["v"]
    as_float = httpx.get(url).json()["rows"][0]["f"][0]["v"]
    newest = dt.datetime(2026, 3, 11, 6, tzinfo=dt.UTC)  # the newest week's second correction
    assert as_int == str(int(newest.timestamp() * 1_000_000)) and float(as_float) == newest.timestamp()


@pytest.mark.parametrize(("sql", "error", "reason", "text"), [
    ("SELEC 1", exceptions.BadRequest, "invalidQuery", "Syntax error"),
    (f"SELECT no_such_column FROM {SQP}", exceptions.BadRequest, "invalidQuery", "Unrecognized name: no_such_column"),
    (f"SELECT 1 FROM `{PROJECT}.{DATASET}.no_such_table`", exceptions.NotFound, "notFound",
     f"Not found: Table {PROJECT}:{DATASET}.no_such_table was not found in location US"),
    (f"SELECT 1 FROM `{PROJECT}.no_such_dataset.t`", exceptions.NotFound, "notFound", "Not found: Dataset"),
    ("SELECT 1 FROM unqualified", exceptions.BadRequest, "invalidQuery", "must be qualified with a dataset"),
])
def test_errors_surface_as_the_clients_exceptions(bigquery_sandbox, sql, error, reason, text) -> None:
    for run in (lambda: bigquery_sandbox.client.query(sql).result(), lambda: bigquery_sandbox.client.query_and_wait(sql)):
        with pytest.raises(error) as raised:
            run()
        assert raised.value.errors[0]["reason"] == reason and text in raised.value.message


def test_missing_job_table_and_quota(bigquery_sandbox) -> None:
    client = bigquery_sandbox.client
    with pytest.raises(exceptions.NotFound, match="Not found: Job"):
        client.get_job("no-such-job")
    with pytest.raises(exceptions.NotFound, match="Not found: Table"):
        client.get_table(f"{PROJECT}.{DATASET}.nope")
    bigquery_sandbox.faults("quota=1", limit=1)
    with pytest.raises(exceptions.Forbidden) as raised:  # quotaExceeded is not retried
        client.get_table(f"{PROJECT}.{DATASET}.asin_performance")
    assert raised.value.errors[0]["reason"] == "quotaExceeded"


def test_client_retries_through_5xx_rate_limits_and_failed_jobs(make_bigquery, fast_retry, fast_job_retry) -> None:
    clean = make_bigquery()
    expected = _tuples(clean.client.query(ORDERED).result(page_size=700))
    faulty = make_bigquery()
    faulty.faults("5xx=0.3,429=0.2,failed=0.5", seed=3)  # the fault seed; the data's stays
    job = faulty.client.query(ORDERED, retry=fast_retry, job_retry=fast_job_retry)
    assert _tuples(job.result(page_size=700, retry=fast_retry, job_retry=fast_job_retry)) == expected
    rows = faulty.client.query_and_wait(ORDERED, page_size=700, retry=fast_retry, job_retry=fast_job_retry)
    assert _tuples(rows) == expected
    stats = faulty.stats()
    assert stats["faults_injected"].get("server_error") and stats["faults_injected"].get("rate_limited")
    assert stats["faults_injected"].get("failed") and stats["jobs_failed"] >= 1
    assert stats["jobs_created"] > 2  # failed jobs were restarted by the client's job retry


def test_rate_limit_answers_403_rate_limit_exceeded(bigquery_sandbox) -> None:
    import httpx

    bigquery_sandbox.faults("429=1", operations=["datasets.get"], limit=1)
    url = f"{bigquery_sandbox.server.url}/bigquery/v2/projects/{PROJECT}/datasets/{DATASET}"
    first, second = httpx.get(url), httpx.get(url)
    assert first.status_code == 403 and first.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    assert first.json()["error"]["status"] == "PERMISSION_DENIED" and second.status_code == 200


def test_expired_results_give_not_found_on_the_next_page(bigquery_sandbox) -> None:
    client = bigquery_sandbox.client
    job = client.query(ORDERED)
    pages = job.result(page_size=1000).pages
    assert len(list(next(pages))) == 1000
    assert bigquery_sandbox.control("expire", {"job_id": job.job_id})["expired"] == [job.job_id]
    with pytest.raises(exceptions.NotFound) as raised:
        next(pages)
    assert raised.value.errors[0]["reason"] == "notFound"
    assert f"Not found: Table {PROJECT}:_anon.anon" in raised.value.message
    # The fault does the same, drawn on a request for a later page.
    bigquery_sandbox.faults("expire=1", limit=1)
    pages = client.query(ORDERED).result(page_size=1000).pages
    next(pages)
    with pytest.raises(exceptions.NotFound):
        next(pages)


def test_slow_pages_and_drops_still_give_the_rows(make_bigquery, fast_retry) -> None:
    sandbox = make_bigquery(faults="slow=0.5,drop=0.2", slow_fault_seconds=0.05)
    rows = sandbox.client.query(ORDERED, retry=fast_retry).result(page_size=2000, retry=fast_retry)
    assert len(_tuples(rows)) == 4992
    assert sandbox.stats()["faults_injected"].get("slow")


def test_client_factory_uses_the_settings() -> None:
    from google.auth.credentials import AnonymousCredentials

    from amc_pipelines.refresh.bigquery import bigquery_client
    from amc_pipelines.settings import Settings

    settings = Settings.from_env({"AMC_SANDBOX_PORT": "9001", "AMC_BIGQUERY_LOCATION": "EU"})
    assert settings.bigquery_endpoint == "http://127.0.0.1:9001" and settings.bigquery_stand_in
    client = bigquery_client(settings)
    assert isinstance(client._credentials, AnonymousCredentials)
    assert client.project == "amc-sandbox" and client.location == "EU"
    assert client._connection.API_BASE_URL == "http://127.0.0.1:9001"
    assert not Settings.from_env({"AMC_BIGQUERY_ENDPOINT": "https://bigquery.googleapis.com"}).bigquery_stand_in
