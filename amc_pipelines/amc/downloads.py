"""Result downloads: every file of an execution, streamed to disk in chunks and verified complete.

The pre-signed URLs are asked for right before downloading and asked for again when S3 answers 403
(the URL expired, ~10 minutes after issue). A file counts as complete when the bytes received match
its Content-Length, the connection did not drop mid-body, and (CSV) it has a header row; without a
Content-Length, a CSV must also end with a newline. An incomplete file is downloaded again from the
start. "Unavailable for download" is an :class:`AmcDownloadError` naming the execution's status,
unless the execution says SUCCEEDED: then its files are lagging behind its status and we wait.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx

from .errors import AmcBadRequest, AmcDownloadError, answer_text
from .models import DownloadedFile, InstanceContext
from .transport import describe_transport_error

if TYPE_CHECKING:
    from .client import AmcClient

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class _Retry(Exception):
    """This attempt at a file failed in a way another attempt may not."""


class _UrlRejected(_Retry):
    """S3 refused the URL (expired or no longer valid): ask AMC for new URLs."""


def download_execution_results(
    client: AmcClient, ctx: InstanceContext, execution_id: str, directory: Path
) -> list[DownloadedFile]:
    directory.mkdir(parents=True, exist_ok=True)
    urls = _ready_urls(client, ctx, execution_id)
    names = _file_names(urls)
    downloaded: list[DownloadedFile] = []
    for index, name in enumerate(names):
        last_error = "no attempt made"
        for attempt in range(1, client.download_attempts + 1):
            try:
                downloaded.append(_download_file(client.http, urls[index], directory / name))
                break
            except _UrlRejected as exc:
                last_error = str(exc)
                log.info("result file %s of %s: %s; asking for new URLs", name, execution_id, exc)
                urls = _refreshed(urls, client.download_urls(ctx, execution_id), execution_id)
            except _Retry as exc:
                last_error = str(exc)
                delay = client.retry.backoff(attempt)
                log.info("result file %s of %s incomplete (%s); downloading again in %.2f s", name, execution_id, exc, delay)
                time.sleep(delay)
        else:
            raise AmcDownloadError(
                f"result file {index + 1} of {len(names)} ({name}) of execution {execution_id} could not be "
                f"downloaded completely in {client.download_attempts} attempts: {last_error}",
                operation="downloadResults",
            )
    return downloaded


def _ready_urls(client: AmcClient, ctx: InstanceContext, execution_id: str) -> list[str]:
    """The URLs, once AMC has them; a clear error when the execution has no results to give."""
    for attempt in range(1, client.download_attempts + 1):
        try:
            return client.download_urls(ctx, execution_id)
        except AmcBadRequest as exc:
            if "unavailable for download" not in exc.message.lower():
                raise
            execution = client.get_execution(ctx, execution_id)
            if not execution.succeeded:
                reason = f" ({execution.status_reason})" if execution.status_reason else ""
                raise AmcDownloadError(
                    f"execution {execution_id} is {execution.status}{reason}: only a SUCCEEDED execution has results "
                    "to download; wait for it to finish first",
                    status=exc.status,
                    code=exc.code,
                    operation="downloadResults",
                ) from exc
            if attempt < client.download_attempts:
                time.sleep(client.retry.backoff(attempt))
    raise AmcDownloadError(
        f"execution {execution_id} is SUCCEEDED but AMC still answers that it is unavailable for download "
        f"after {client.download_attempts} tries; try again later",
        operation="downloadResults",
    )


def _url_path(url: str) -> str:
    return urlsplit(url).path


def _file_names(urls: list[str]) -> list[str]:
    """Local names: the URL's file name, made safe and unique (several URLs may share a name)."""
    names: list[str] = []
    for index, url in enumerate(urls):
        name = _SAFE_NAME.sub("_", unquote(_url_path(url).rsplit("/", 1)[-1])) or f"part-{index:05d}.csv"
        names.append(f"{index:05d}-{name}" if name in names else name)
    return names


def _refreshed(old: list[str], new: list[str], execution_id: str) -> list[str]:
    """New URLs in the old order (matched by object path; the signature part changes)."""
    by_path = {_url_path(url): url for url in new}
    if len(new) != len(old) or any(_url_path(url) not in by_path for url in old):
        raise AmcDownloadError(
            f"execution {execution_id}: the new download URLs name other files than before ({len(old)} then {len(new)})",
            operation="downloadResults",
        )
    return [by_path[_url_path(url)] for url in old]


def _download_file(http: httpx.Client, url: str, path: Path) -> DownloadedFile:
    """One verified file at ``path`` (written to ``path.part`` first, so a failed try leaves nothing)."""
    partial = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    try:
        with http.stream("GET", url) as response:
            if not response.is_success:
                response.read()
                _raise_for_answer(response)
            declared = response.headers.get("content-length")
            is_csv = path.suffix.lower() == ".csv" or "csv" in response.headers.get("content-type", "")
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
            received = response.num_bytes_downloaded
        if declared is not None and int(declared) != received:
            raise _Retry(f"received {received} of {declared} bytes")
        size = partial.stat().st_size
        header = _header(partial, size, require_final_newline=declared is None) if is_csv else []
        partial.replace(path)
        return DownloadedFile(path=path, size=size, sha256=digest.hexdigest(), header=header)
    except httpx.TransportError as exc:
        raise _Retry(describe_transport_error(exc)) from exc
    finally:
        partial.unlink(missing_ok=True)


def _raise_for_answer(response: httpx.Response) -> None:
    code, message = answer_text(response)
    text = f"HTTP {response.status_code} {code or ''}: {message}".replace("  ", " ")
    if response.status_code == 403:
        raise _UrlRejected(text)  # "Request has expired" (AccessDenied) or a URL no longer valid
    if response.status_code == 429 or response.status_code >= 500:
        raise _Retry(text)
    raise AmcDownloadError(f"result file download failed: {text}", status=response.status_code, code=code,
                           operation="downloadResults")


def _header(path: Path, size: int, *, require_final_newline: bool) -> list[str]:
    """The CSV header row; _Retry when the file is empty or (no Content-Length) cut off mid-line."""
    if size == 0:
        raise _Retry("the file is empty (a result file always has a header row)")
    if require_final_newline:
        with path.open("rb") as handle:
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                raise _Retry("the file does not end with a newline (cut off mid-row)")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    if not header or not any(cell.strip() for cell in header):
        raise _Retry("the file has no header row")
    return header
