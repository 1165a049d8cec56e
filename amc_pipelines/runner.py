"""Run one report for one instance and window through the execution ledger.

``prepare_run`` (run_request.py) checks everything a user can get wrong before anything is sent to AMC.
``run_report`` then, under the execution key's advisory lock, reuses a loaded result, reattaches
to an execution AMC already has, adopts one a crashed run submitted without recording, or records
its intent and submits; it polls, downloads every file and loads them. Domain logic only.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amc_pipelines import ledger
from amc_pipelines.ledger import ExecutionRecord
from amc_pipelines.run_request import RunInputError, RunRequest, prepare_run

__all__ = ["ExecutionRejected", "RunFailed", "RunInputError", "RunOutcome", "RunRequest", "prepare_run", "run_report"]

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from amc_pipelines.amc.client import AmcClient
    from amc_pipelines.amc.models import InstanceContext, WorkflowExecution
    from amc_pipelines.params import TimeWindow
    from amc_pipelines.settings import Settings

# Submissions per run when AMC ends executions FAILED (its transient internal errors).
MAX_ATTEMPTS = 4
# Clock skew allowed between the ledger's intent time and AMC's createTime when adopting.
ADOPTION_SKEW = timedelta(minutes=5)


class RunFailed(RuntimeError):
    """AMC could not produce or deliver the result; the message carries AMC's reason."""

    def __init__(self, message: str, *, ledger_id: int | None = None, amc_execution_id: str | None = None,
                 status: str | None = None) -> None:
        super().__init__(message)
        self.ledger_id, self.amc_execution_id, self.status = ledger_id, amc_execution_id, status


class ExecutionRejected(RunFailed):
    """AMC REJECTED the query (SQL, parameters or privacy rules): retrying the same request cannot help."""


@dataclass
class RunOutcome:
    execution_key: str
    ledger_id: int | None
    amc_execution_id: str | None
    workflow_id: str
    status: str  # LOADED (loaded now), REUSED (an earlier load stands), DRY_RUN
    rows: int
    checksum: str | None
    files: int
    api_calls: int  # requests this run sent (exact unless concurrent runs share one client)
    provisional: bool
    reused: bool
    reattached: bool
    submitted: bool
    window: TimeWindow
    seconds: float
    attempts: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)  # dry run: the exact requests

    @property
    def how(self) -> str:
        return "reused" if self.reused else "reattached" if self.reattached else "submitted" if self.submitted else "dry run"


# ---- running ---------------------------------------------------------------------------------------


def run_report(
    engine: Engine,
    settings: Settings,
    client: AmcClient,
    request: RunRequest,
    *,
    progress: Callable[[str], None] | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> RunOutcome:
    """Reuse, reattach to, adopt or submit the request's execution and load its result.

    Raises :class:`RunFailed` (:class:`ExecutionRejected`) when AMC cannot deliver; AMC client
    errors that outlast the client's retries propagate as they are, leaving the ledger row as is so
    that the next run reattaches.
    """
    run = _Run(engine, settings, client, request, progress or (lambda message: None), max_attempts)
    if request.dry_run:
        return run.dry_run()
    from amc_pipelines.loading import ensure_result_table

    ensure_result_table(engine, request.report)  # an incompatible table fails before AMC is asked
    with ledger.key_lock(engine, request.key, on_wait=lambda: run.say("waiting: another run holds this partition")):
        return run.execute()


class _Run:
    """The state of one run_report call."""

    def __init__(self, engine: Engine, settings: Settings, client: AmcClient, request: RunRequest,
                 progress: Callable[[str], None], max_attempts: int) -> None:
        from amc_pipelines.amc.models import InstanceContext
        from amc_pipelines.params import amc_input_parameters, amc_parameter_values

        self.engine, self.settings, self.client, self.request = engine, settings, client, request
        self.spec, self.window, self.key = request.report, request.window, request.key
        self.ctx: InstanceContext = InstanceContext.from_instance(request.instance)
        self.values = amc_parameter_values(self.spec.parameters, request.parameters)
        self.input_parameters = amc_input_parameters(self.spec.parameters)
        self.progress, self.max_attempts = progress, max_attempts
        self.started, self.calls_before = time.monotonic(), client.api_calls
        self.reattached = self.submitted = self.workflow_ready = False
        self.attempts = 0

    def say(self, message: str) -> None:
        self.progress(f"[{time.monotonic() - self.started:7.1f}s] {message}")

    # The saved workflow as create/PUT send it.
    def workflow_definition(self) -> dict[str, Any]:
        return {
            "workflow_id": self.spec.workflow_id,
            "sql": self.spec.amc_sql(),
            "input_parameters": self.input_parameters,
            "privacy_filtering_behavior": self.spec.privacy.behavior,
            "filtered_metrics_discriminator_column": self.spec.privacy.discriminator_column,
        }

    def execute(self) -> RunOutcome:
        from amc_pipelines.amc.errors import AmcDownloadError

        live = ledger.live_execution(self.engine, self.key)
        if live is not None and live.status == "LOADED" and not self.request.force:
            if not (live.provisional and not self.request.provisional):
                self.say(f"already loaded by AMC execution {live.amc_execution_id}: reusing it")
                return self.outcome(live, status="REUSED", reused=True)
            self.say("the loaded result was provisional and the window has settled: collecting it again")
            live = self.supersede(live, "re-collected after the settle period")
        if live is not None and self.request.force:
            live = self.supersede(live, "replaced by a forced run")
        if live is None:
            record = self.submit(self.intent())
        elif live.status == "INTENDED":
            self.say(f"ledger #{live.id} was intended but has no AMC id: looking for it at AMC")
            record = self.adopt(live) or self.submit(live)
        else:
            self.say(f"reattaching to AMC execution {live.amc_execution_id} ({live.status})")
            self.reattached, record = True, live
        while True:
            self.attempts += 1
            final = self.wait(record)
            record = ledger.transition(self.engine, record.id, final.status, error=final.status_reason,
                                       detail=final.status_reason)
            reason = final.status_reason or f"AMC ended the execution {final.status}"
            if final.status == "SUCCEEDED":
                try:
                    return self.load(record)
                except AmcDownloadError as err:  # after the client's own retries: the results are gone
                    reason = f"the results could not be downloaded: {err.message}"
                    record = ledger.transition(self.engine, record.id, "FAILED", error=reason, detail=reason)
            if final.status == "REJECTED":
                raise ExecutionRejected(f"AMC rejected execution {record.amc_execution_id}: {reason}",
                                        ledger_id=record.id, amc_execution_id=record.amc_execution_id, status="REJECTED")
            if record.status == "CANCELLED" or self.attempts >= self.max_attempts:
                raise RunFailed(f"AMC execution {record.amc_execution_id} ended {record.status} "
                                f"(attempt {self.attempts} of {self.max_attempts}): {reason}",
                                ledger_id=record.id, amc_execution_id=record.amc_execution_id, status=record.status)
            self.say(f"AMC execution {record.amc_execution_id} FAILED ({reason}): submitting again")
            record = self.submit(self.intent())

    def intent(self) -> ExecutionRecord:
        return ledger.record_intent(self.engine, self.key, parameters=self.values, workflow_id=self.spec.workflow_id,
                                    forced=self.request.force, provisional=self.request.provisional)

    def supersede(self, live: ExecutionRecord, why: str) -> None:
        from amc_pipelines.amc.errors import AmcError

        if live.amc_execution_id and live.status in ("SUBMITTED", "PENDING", "RUNNING"):
            try:  # free AMC's slot; the forced run does not need the old execution
                self.client.cancel_execution(self.ctx, live.amc_execution_id)
            except AmcError as err:
                self.say(f"could not cancel AMC execution {live.amc_execution_id}: {err}")
        ledger.transition(self.engine, live.id, "SUPERSEDED", detail=why)
        return None

    def submit(self, record: ExecutionRecord) -> ExecutionRecord:
        """Send the execution for an INTENDED row and record AMC's id at once."""
        from amc_pipelines.amc.errors import AmcAmbiguousSubmit, AmcBadRequest

        if not self.workflow_ready:
            try:
                self.client.ensure_workflow(self.ctx, **self.workflow_definition())
            except AmcBadRequest as err:
                self.refuse(record, f"AMC refused workflow {self.spec.workflow_id}: {err.message}")
            self.workflow_ready = True
        # A submission whose fate is unknown is looked up before it is sent again, as often as the
        # client's retry policy allows: AMC must never run the same execution twice.
        policy = self.client.retry
        for attempt in range(1, policy.max_attempts + 1):
            try:
                execution = self.client.create_execution(self.ctx, workflow_id=self.spec.workflow_id,
                                                         window=self.window, parameter_values=self.values)
                break
            except AmcAmbiguousSubmit as err:
                self.say(f"no clear answer to the submission ({err.message}): looking for it at AMC")
                adopted = self.adopt(record)
                if adopted is not None:
                    return adopted
                if attempt == policy.max_attempts:
                    raise
                self.say("AMC has no such execution: submitting again")
                time.sleep(policy.backoff(attempt))
            except AmcBadRequest as err:
                self.refuse(record, f"AMC refused the execution request: {err.message}")
        self.submitted = True
        self.say(f"submitted AMC execution {execution.workflow_execution_id} ({execution.status})")
        return ledger.transition(self.engine, record.id, execution.status or "SUBMITTED",
                                 amc_execution_id=execution.workflow_execution_id, detail="submitted")

    def refuse(self, record: ExecutionRecord, message: str) -> None:
        ledger.transition(self.engine, record.id, "REJECTED", error=message, detail=message)
        raise ExecutionRejected(message, ledger_id=record.id, status="REJECTED")

    def adopt(self, record: ExecutionRecord) -> ExecutionRecord | None:
        """The execution AMC accepted for this intent but the ledger never recorded, if any."""
        since = record.created_at - ADOPTION_SKEW
        candidates = [
            e for e in self.client.list_executions(self.ctx, workflow_id=self.spec.workflow_id, min_creation_time=since)
            if e.workflow_execution_id and self.same_request(e)
        ]
        owned = ledger.recorded_amc_ids(self.engine, [e.workflow_execution_id for e in candidates])
        candidates = [e for e in candidates if e.workflow_execution_id not in owned]
        if not candidates:
            return None
        found = min(candidates, key=lambda e: e.create_time or datetime.max.replace(tzinfo=UTC))
        self.reattached = True
        self.say(f"adopted AMC execution {found.workflow_execution_id} ({found.status}) submitted by an earlier run")
        return ledger.transition(self.engine, record.id, found.status, amc_execution_id=found.workflow_execution_id,
                                 detail="adopted from AMC's execution list")

    def same_request(self, execution: WorkflowExecution) -> bool:
        from amc_pipelines.params import parameters_hash

        start = execution.time_window_start_original or execution.time_window_start or ""
        end = execution.time_window_end_original or execution.time_window_end or ""
        return (
            start.rstrip("Z") == self.window.amc_start()
            and end.rstrip("Z") == self.window.amc_end()
            and (execution.time_window_time_zone or "UTC") == self.window.timezone
            and parameters_hash(execution.parameter_values) == parameters_hash(self.values)
        )

    def wait(self, record: ExecutionRecord) -> WorkflowExecution:
        assert record.amc_execution_id is not None
        current = {"status": record.status}

        def on_status(execution: WorkflowExecution) -> None:
            self.say(f"AMC execution {execution.workflow_execution_id}: {execution.status}")
            # Terminal statuses are recorded by the caller; only forward moves are recorded here.
            if not execution.is_terminal and ledger.can_move(current["status"], execution.status):
                current["status"] = ledger.transition(self.engine, record.id, execution.status).status

        return self.client.wait_for_execution(self.ctx, record.amc_execution_id,
                                              poll_seconds=self.settings.poll_seconds, on_status=on_status)

    def load(self, record: ExecutionRecord) -> RunOutcome:
        from amc_pipelines.loading import load_result_files

        assert record.amc_execution_id is not None
        downloads = self.settings.home / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        directory = Path(tempfile.mkdtemp(prefix=f"execution-{record.id}-", dir=downloads))
        try:
            files = self.client.download_results(self.ctx, record.amc_execution_id, directory)
            self.say(f"downloaded {len(files)} file(s), {sum(f.size for f in files):,} bytes")
            result = load_result_files(self.engine, self.spec, self.request.result_key, [f.path for f in files],
                                       amc_execution_id=record.amc_execution_id)
        except Exception as err:  # keep the reason in the ledger; the row stays SUCCEEDED for a rerun
            ledger.transition(self.engine, record.id, record.status, error=f"{type(err).__name__}: {err}")
            raise
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        record = ledger.transition(
            self.engine, record.id, "LOADED", rows=result.rows, checksum=result.checksum, file_count=result.files,
            api_calls=self.client.api_calls - self.calls_before, detail=f"{result.rows} rows in {result.seconds:.2f} s",
        )
        self.say(f"loaded {result.rows:,} rows")
        return self.outcome(record, status="LOADED")

    def outcome(self, record: ExecutionRecord, *, status: str, reused: bool = False) -> RunOutcome:
        return RunOutcome(
            execution_key=self.key.digest, ledger_id=record.id, amc_execution_id=record.amc_execution_id,
            workflow_id=record.workflow_id, status=status, rows=record.rows or 0, checksum=record.checksum,
            files=record.file_count or 0, api_calls=self.client.api_calls - self.calls_before,
            provisional=record.provisional, reused=reused, reattached=self.reattached, submitted=self.submitted,
            window=self.window, seconds=time.monotonic() - self.started, attempts=self.attempts,
        )

    def dry_run(self) -> RunOutcome:
        """Validate with AMC's dryRun (ad hoc, so nothing is saved) and describe the real requests."""
        from amc_pipelines.amc.bodies import execution_body, workflow_body
        from amc_pipelines.amc.errors import AmcBadRequest

        base = f"{self.client.base_url(self.ctx.region)}/amc/reporting/{self.ctx.instance_id}"
        execution = execution_body(window=self.window, parameter_values=self.values,
                                   workflow_id=self.spec.workflow_id, sql=None, input_parameters=None,
                                   dry_run=False, timeout_seconds=21600)
        requests = [
            {"method": "POST", "url": f"{base}/workflows", "body": workflow_body(**self.workflow_definition()),
             "note": "saved workflow: created once, or PUT to .../workflows/{id} when its definition differs"},
            {"method": "POST", "url": f"{base}/workflowExecutions", "body": execution},
        ]
        try:
            answer = self.client.create_execution(self.ctx, sql=self.spec.amc_sql(),
                                                  input_parameters=self.input_parameters, window=self.window,
                                                  parameter_values=self.values, dry_run=True)
        except AmcBadRequest as err:
            raise ExecutionRejected(f"AMC's dry run rejected the request: {err.message}", status="REJECTED") from None
        self.say(f"AMC dry run: {answer.status_reason or answer.status}")
        return RunOutcome(
            execution_key=self.key.digest, ledger_id=None, amc_execution_id=None, workflow_id=self.spec.workflow_id,
            status="DRY_RUN", rows=0, checksum=None, files=0, api_calls=self.client.api_calls - self.calls_before,
            provisional=self.request.provisional, reused=False, reattached=False, submitted=False,
            window=self.window, seconds=time.monotonic() - self.started, requests=requests,
        )
