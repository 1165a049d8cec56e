"""Result downloads from the sandbox's signed URLs: every file, verified, recovered from faults."""

from __future__ import annotations

import hashlib

import pytest

from amc_pipelines.amc import AmcDownloadError

from .support import DAILY_SQL, SQL, calls, context, faults, recent_window, sandbox_client


def _succeeded(amc, ctx, server, sql=DAILY_SQL) -> str:
    execution = amc.create_execution(ctx, sql=sql, window=recent_window(server), parameter_values={})
    finished = amc.wait_for_execution(ctx, execution.workflow_execution_id, poll_seconds=0.02)
    assert finished.succeeded, finished
    return execution.workflow_execution_id


def _assert_same_as_served(server, ctx, execution_id, files) -> None:
    served = sorted((server.config.results_dir / ctx.instance_id / execution_id).glob("*.csv"))
    assert [f.path.name for f in files] == [p.name for p in served]
    for downloaded, original in zip(files, served, strict=True):
        content = original.read_bytes()
        assert downloaded.path.read_bytes() == content
        assert downloaded.size == len(content) and downloaded.sha256 == hashlib.sha256(content).hexdigest()
        assert downloaded.header == ["campaign", "impression_date", "impressions"]
    assert not list(files[0].path.parent.glob("*.part"))


def test_every_file_of_a_multi_file_result(make_sandbox, tmp_path):
    server = make_sandbox(max_rows_per_file=5)
    ctx = context(server)
    with sandbox_client(server) as amc:
        execution_id = _succeeded(amc, ctx, server)
        files = amc.download_results(ctx, execution_id, tmp_path / "out")
    assert len(files) > 2
    _assert_same_as_served(server, ctx, execution_id, files)
    assert calls(server, "downloadResultFile") == len(files)


def test_truncated_files_are_downloaded_again(make_sandbox, tmp_path):
    server = make_sandbox(max_rows_per_file=5, faults="truncate=0.4")
    ctx = context(server)
    with sandbox_client(server, download_attempts=8) as amc:
        execution_id = _succeeded(amc, ctx, server)
        files = amc.download_results(ctx, execution_id, tmp_path)
    assert faults(server, "truncated") >= 1
    assert calls(server, "downloadResultFile") == len(files) + faults(server, "truncated")
    _assert_same_as_served(server, ctx, execution_id, files)


def test_expired_urls_are_asked_for_again(make_sandbox, tmp_path):
    server = make_sandbox(max_rows_per_file=5, faults="expire=0.3")
    ctx = context(server)
    with sandbox_client(server, download_attempts=8) as amc:
        execution_id = _succeeded(amc, ctx, server)
        files = amc.download_results(ctx, execution_id, tmp_path)
    assert faults(server, "expired") >= 1
    assert calls(server, "getWorkflowExecutionDownloadUrls") > 1
    _assert_same_as_served(server, ctx, execution_id, files)


def test_a_file_that_never_arrives_whole_is_an_error(make_sandbox, tmp_path):
    server = make_sandbox(faults="truncate=1")
    ctx = context(server)
    with sandbox_client(server, download_attempts=3) as amc:
        execution_id = _succeeded(amc, ctx, server, SQL)
        with pytest.raises(AmcDownloadError, match=r"in 3 attempts: .*received \d+ bytes, expected \d+"):
            amc.download_results(ctx, execution_id, tmp_path)
    assert faults(server, "truncated") == 3
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_results_of_an_unfinished_execution_are_a_clear_error(make_sandbox, tmp_path):
    server = make_sandbox(latency="5")
    ctx = context(server)
    with sandbox_client(server) as amc:
        execution = amc.create_execution(ctx, sql=SQL, window=recent_window(server), parameter_values={})
        with pytest.raises(AmcDownloadError, match="is RUNNING: only a SUCCEEDED execution"):
            amc.download_results(ctx, execution.workflow_execution_id, tmp_path)
    assert calls(server, "getWorkflowExecutionDownloadUrls") == 1
