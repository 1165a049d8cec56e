"""The AMC Reporting API client: one object per process, shared by its threads.

Every request goes through the rate limiter, carries a fresh Login-with-Amazon token and the
headers AMC routes by, and is retried as :mod:`.transport` describes. A 401 refreshes the token
once and sends again. ``api_calls`` counts the requests sent to AMC (retries and 401 re-sends
included; token refreshes and result-file downloads excluded).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from amc_pipelines.settings import Settings

from .auth import TokenProvider
from .bodies import execution_body, workflow_body, workflow_differs
from .errors import (
    AmcBadRequest,
    AmcConfigurationError,
    AmcError,
    AmcNotFound,
    AmcServerError,
    AmcThrottled,
    AmcTransportError,
    AmcWaitTimeout,
    error_from_response,
)
from .models import REGION_HOSTS, DownloadedFile, InstanceContext, WorkflowExecution
from .ratelimit import LocalRateLimiter, RateLimiter
from .transport import RetryPolicy, send_with_retries

log = logging.getLogger(__name__)

WORKFLOWS_MEDIA_TYPE = "application/vnd.amcworkflows.v1+json"
EXECUTIONS_MEDIA_TYPE = "application/vnd.amcworkflowexecutions.v1+json"
DATA_SOURCES_MEDIA_TYPE = "application/vnd.amcdatasources.v1+json"
JSON_MEDIA_TYPE = "application/json"
PAGE_LIMIT = 100  # AMC's maximum page size
# The literal AMC_API_URL value that selects the Amazon Ads host of each instance's region.
REGION_API_URL = "region"
# Polls that fail in a row (after their own retries) before wait_for_execution gives up.
MAX_FAILED_POLLS = 5


class AmcClient:
    """Thread-safe AMC client; a context manager that closes its HTTP connections."""

    def __init__(
        self,
        settings: Settings,
        *,
        rate_limiter: RateLimiter | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        token_refresh_margin_seconds: float = 300.0,
        download_attempts: int = 5,
    ) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.rate_limiter: RateLimiter = rate_limiter or LocalRateLimiter(settings.api_rate_per_second)
        self.download_attempts = download_attempts
        self.http = httpx.Client(transport=transport, timeout=settings.request_timeout_seconds)
        self.auth = TokenProvider(
            self.http,
            token_url=settings.token_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            refresh_token=settings.refresh_token,
            retry=self.retry,
            refresh_margin_seconds=token_refresh_margin_seconds,
        )
        self._calls_lock = threading.Lock()
        self._api_calls = 0

    # ---- plumbing --------------------------------------------------------------------------------

    @property
    def api_calls(self) -> int:
        return self._api_calls

    def base_url(self, region: str) -> str:
        if self.settings.api_url != REGION_API_URL:
            return self.settings.api_url.rstrip("/")
        try:
            return REGION_HOSTS[region.upper()]
        except KeyError:
            raise AmcConfigurationError(f"unknown AMC region {region!r}: use one of {', '.join(REGION_HOSTS)}") from None

    def request(
        self,
        method: str,
        path: str,
        *,
        region: str,
        advertiser_id: str | None,
        marketplace_id: str,
        operation: str,
        media_type: str = JSON_MEDIA_TYPE,
        body: Any = None,
        params: dict[str, Any] | None = None,
        creates: bool = False,
    ) -> httpx.Response:
        """A 2xx answer to one AMC call, or the typed error (after the retries it deserves)."""
        url = self.base_url(region) + path
        headers = {
            "Amazon-Advertising-API-ClientId": self.auth.client_id,
            "Amazon-Advertising-API-MarketplaceId": marketplace_id,
            "Accept": media_type,
        }
        if advertiser_id:
            headers["Amazon-Advertising-API-AdvertiserId"] = advertiser_id
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = media_type
        refreshed = False

        def send() -> httpx.Response:
            nonlocal refreshed
            while True:
                self.rate_limiter.acquire()
                token = self.auth.token()
                with self._calls_lock:
                    self._api_calls += 1
                response = self.http.request(
                    method, url, params=params, content=content, headers={**headers, "Authorization": f"Bearer {token}"}
                )
                if response.status_code != 401 or refreshed:
                    return response
                refreshed = True  # once per call: a second 401 is a real authorization failure
                log.info("%s: 401 with the current token; refreshing it once", operation)
                self.auth.invalidate(token)

        response = send_with_retries(
            send, policy=self.retry, operation=operation, creates=creates, penalize=self.rate_limiter.penalize
        )
        if response.is_success:
            return response
        raise error_from_response(response, operation)

    def _reporting(self, ctx: InstanceContext, method: str, suffix: str, **kwargs: Any) -> Any:
        response = self.request(
            method,
            f"/amc/reporting/{ctx.instance_id}{suffix}",
            region=ctx.region,
            advertiser_id=ctx.account_id,
            marketplace_id=ctx.marketplace_id,
            **kwargs,
        )
        return _json(response, kwargs["operation"])

    def _pages(self, fetch: Callable[[dict[str, Any]], Any], keys: tuple[str, ...], operation: str) -> Iterator[dict]:
        """Every item of a ``nextToken``-paged list, page by page."""
        token: str | None = None
        while True:
            page = fetch({"limit": PAGE_LIMIT, **({"nextToken": token} if token else {})})
            items = next((page[k] for k in keys if isinstance(page, dict) and isinstance(page.get(k), list)), None)
            if items is None:
                raise AmcError(f"unexpected answer (no {' or '.join(keys)} list): {str(page)[:300]}", operation=operation)
            yield from items
            next_token = page.get("nextToken")
            if not next_token:
                return
            if next_token == token:
                raise AmcError(f"AMC returned the same nextToken twice ({next_token!r})", operation=operation)
            token = next_token

    # ---- account level ---------------------------------------------------------------------------

    def list_accounts(self, *, region: str = "NA") -> list[dict]:
        def fetch(params: dict[str, Any]) -> Any:
            response = self.request("GET", "/amc/accounts", region=region, advertiser_id=None,
                                    marketplace_id=self.settings.marketplace_id, operation="listAccounts", params=params)
            return _json(response, "listAccounts")

        return list(self._pages(fetch, ("amcAccounts", "accounts"), "listAccounts"))

    def list_instances(self, *, account_id: str | None = None, region: str = "NA") -> list[dict]:
        """The instances of the AMC account (``AMC_ACCOUNT_ID`` unless ``account_id`` is given)."""
        account_id = account_id or self.settings.account_id
        if not account_id:
            raise AmcConfigurationError(
                "AMC_ACCOUNT_ID is not set: set it to your AMC account's entity id (see `amc` accounts: GET /amc/accounts)"
            )

        def fetch(params: dict[str, Any]) -> Any:
            response = self.request("GET", "/amc/instances", region=region, advertiser_id=account_id,
                                    marketplace_id=self.settings.marketplace_id, operation="listInstances", params=params)
            return _json(response, "listInstances")

        return list(self._pages(fetch, ("instances",), "listInstances"))

    # ---- data sources ----------------------------------------------------------------------------

    def list_data_sources(self, ctx: InstanceContext) -> Iterator[dict]:
        return self._pages(
            lambda params: self._reporting(ctx, "GET", "/dataSources", params=params, operation="listDataSources",
                                           media_type=DATA_SOURCES_MEDIA_TYPE),
            ("dataSources",),
            "listDataSources",
        )

    def get_data_source(self, ctx: InstanceContext, data_source_id: str) -> dict:
        return self._reporting(ctx, "GET", f"/dataSources/{data_source_id}", operation="getDataSource",
                               media_type=DATA_SOURCES_MEDIA_TYPE)

    # ---- workflows -------------------------------------------------------------------------------

    def get_workflow(self, ctx: InstanceContext, workflow_id: str) -> dict | None:
        try:
            return self._reporting(ctx, "GET", f"/workflows/{workflow_id}", operation="getWorkflow",
                                   media_type=WORKFLOWS_MEDIA_TYPE)
        except AmcNotFound:
            return None

    def list_workflows(self, ctx: InstanceContext) -> Iterator[dict]:
        return self._pages(
            lambda params: self._reporting(ctx, "GET", "/workflows", params=params, operation="listWorkflows",
                                           media_type=WORKFLOWS_MEDIA_TYPE),
            ("workflows",),
            "listWorkflows",
        )

    def create_workflow(self, ctx: InstanceContext, **definition: Any) -> dict:
        return self._reporting(ctx, "POST", "/workflows", body=workflow_body(**definition), operation="createWorkflow",
                               media_type=WORKFLOWS_MEDIA_TYPE)

    def update_workflow(self, ctx: InstanceContext, workflow_id: str, **definition: Any) -> dict:
        body = workflow_body(workflow_id=workflow_id, **definition)
        return self._reporting(ctx, "PUT", f"/workflows/{workflow_id}", body=body, operation="updateWorkflow",
                               media_type=WORKFLOWS_MEDIA_TYPE)

    def ensure_workflow(self, ctx: InstanceContext, **definition: Any) -> dict:
        """The saved workflow with this definition: created, updated (PUT) if it differs, or as is."""
        wanted = workflow_body(**definition)
        workflow_id = wanted["workflowId"]
        stored = self.get_workflow(ctx, workflow_id)
        if stored is None:
            try:
                return self.create_workflow(ctx, **definition)
            except AmcBadRequest:
                # Created meanwhile (another worker, or our own create whose answer was lost).
                stored = self.get_workflow(ctx, workflow_id)
                if stored is None:
                    raise
        if workflow_differs(stored, wanted):
            return self.update_workflow(ctx, **definition)
        return stored

    # ---- executions ------------------------------------------------------------------------------

    def create_execution(
        self,
        ctx: InstanceContext,
        *,
        window: Any,
        parameter_values: dict[str, Any],
        workflow_id: str | None = None,
        sql: str | None = None,
        input_parameters: list[dict] | None = None,
        dry_run: bool = False,
        timeout_seconds: int = 21600,
    ) -> WorkflowExecution:
        """Submit (or with ``dry_run`` validate) an execution over an EXPLICIT window.

        ``window`` is a ``params.TimeWindow`` (``amc_start()``, ``amc_end()``, ``timezone``). Raises
        :class:`AmcAmbiguousSubmit` when the request may have been accepted but no answer came back.
        """
        body = execution_body(window=window, parameter_values=parameter_values, workflow_id=workflow_id, sql=sql,
                              input_parameters=input_parameters, dry_run=dry_run, timeout_seconds=timeout_seconds)
        payload = self._reporting(ctx, "POST", "/workflowExecutions", body=body, operation="createWorkflowExecution",
                                  media_type=EXECUTIONS_MEDIA_TYPE, creates=not dry_run)
        return _execution(payload, "createWorkflowExecution")

    def get_execution(self, ctx: InstanceContext, execution_id: str) -> WorkflowExecution:
        payload = self._reporting(ctx, "GET", f"/workflowExecutions/{execution_id}", operation="getWorkflowExecution",
                                  media_type=EXECUTIONS_MEDIA_TYPE)
        return _execution(payload, "getWorkflowExecution")

    def list_executions(
        self, ctx: InstanceContext, *, workflow_id: str | None = None, min_creation_time: datetime | None = None
    ) -> Iterator[WorkflowExecution]:
        """Every execution of the instance (optionally of one workflow, created at or after a UTC time)."""
        filters: dict[str, Any] = {}
        if workflow_id:
            filters["workflowId"] = workflow_id
        if min_creation_time is not None:
            if min_creation_time.tzinfo is not None:
                min_creation_time = min_creation_time.astimezone(UTC).replace(tzinfo=None)
            filters["minCreationTime"] = min_creation_time.strftime("%Y-%m-%dT%H:%M:%S")
        items = self._pages(
            lambda params: self._reporting(ctx, "GET", "/workflowExecutions", params={**filters, **params},
                                           operation="listWorkflowExecutions", media_type=EXECUTIONS_MEDIA_TYPE),
            ("executions", "workflowExecutions"),
            "listWorkflowExecutions",
        )
        return (_execution(item, "listWorkflowExecutions") for item in items)

    def cancel_execution(self, ctx: InstanceContext, execution_id: str) -> WorkflowExecution:
        """Cancel a PENDING/RUNNING execution; one already CANCELLED (e.g. by a lost earlier try) is returned as is."""
        try:
            payload = self._reporting(ctx, "PUT", f"/workflowExecutions/{execution_id}", body={"status": "CANCELLED"},
                                      operation="cancelWorkflowExecution", media_type=EXECUTIONS_MEDIA_TYPE)
        except AmcBadRequest:
            current = self.get_execution(ctx, execution_id)
            if current.status == "CANCELLED":
                return current
            raise
        return _execution(payload, "cancelWorkflowExecution")

    def wait_for_execution(
        self,
        ctx: InstanceContext,
        execution_id: str,
        *,
        poll_seconds: float,
        max_poll_seconds: float = 60.0,
        on_status: Callable[[WorkflowExecution], None] | None = None,
        timeout: float | None = None,
    ) -> WorkflowExecution:
        """Poll until the execution is terminal; the interval grows 1.5x from poll_seconds to max_poll_seconds.

        ``on_status`` is called with the execution whenever its status changes (and first seen).
        Transient poll failures are tolerated up to MAX_FAILED_POLLS in a row. Raises
        :class:`AmcWaitTimeout` after ``timeout`` seconds (the execution keeps running in AMC).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll_seconds
        last_status: str | None = None
        failed_polls = 0
        while True:
            try:
                execution = self.get_execution(ctx, execution_id)
                failed_polls = 0
            except (AmcServerError, AmcThrottled, AmcTransportError) as exc:
                failed_polls += 1
                if failed_polls >= MAX_FAILED_POLLS:
                    raise
                log.warning("polling execution %s failed (%s); polling on", execution_id, exc)
            else:
                if execution.status != last_status:
                    last_status = execution.status
                    if on_status is not None:
                        on_status(execution)
                if execution.is_terminal:
                    return execution
            if deadline is not None and time.monotonic() + interval > deadline:
                raise AmcWaitTimeout(
                    f"execution {execution_id} still {last_status or 'unknown'} after {timeout:g} s; it keeps running in AMC",
                    operation="waitForExecution",
                )
            time.sleep(interval)
            interval = min(max_poll_seconds, interval * 1.5)

    # ---- results ---------------------------------------------------------------------------------

    def download_urls(self, ctx: InstanceContext, execution_id: str) -> list[str]:
        """Fresh pre-signed result URLs (they expire after ~10 minutes: ask right before downloading)."""
        payload = self._reporting(ctx, "GET", f"/workflowExecutions/{execution_id}/downloadUrls",
                                  operation="getWorkflowExecutionDownloadUrls", media_type=EXECUTIONS_MEDIA_TYPE)
        urls = payload.get("downloadUrls") if isinstance(payload, dict) else None
        if not isinstance(urls, list):
            raise AmcError(f"unexpected answer (no downloadUrls list): {str(payload)[:300]}",
                           operation="getWorkflowExecutionDownloadUrls")
        return [u if isinstance(u, str) else str(u.get("url") or u.get("downloadUrl")) for u in urls]

    def download_results(self, ctx: InstanceContext, execution_id: str, directory: Path) -> list[DownloadedFile]:
        """Every result file of a SUCCEEDED execution, streamed into ``directory`` and verified complete."""
        from .downloads import download_execution_results

        return download_execution_results(self, ctx, execution_id, Path(directory))

    # ---- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AmcClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _json(response: httpx.Response, operation: str) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        raise AmcError(f"answer is not JSON: {response.text[:300]}", status=response.status_code, operation=operation) from None


def _execution(payload: Any, operation: str) -> WorkflowExecution:
    try:
        return WorkflowExecution.parse(payload)
    except ValueError as exc:
        raise AmcError(f"unexpected execution answer: {exc}", operation=operation) from None
