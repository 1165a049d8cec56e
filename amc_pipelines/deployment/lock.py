"""Which deployment runs on a Dagster home: an exclusive lock, and a record of what holds it.

One Dagster home per AMC_HOME (:func:`amc_pipelines.dagster_home.dagster_home`) means ``make dev``
and ``make demo`` must not run on it at once: two daemons would both dequeue the same run queue and
tick the same sensors, and the second webserver would fail on a taken port. So a deployment holds an
exclusive ``flock`` on ``DAGSTER_HOME/deployment.lock`` for its lifetime and writes
``deployment.json`` beside it: what it is (``make dev``...), its process ids, its UI's URL.

A ``flock`` belongs to the open file, not to a pid: the kernel releases it when the last process
holding the file ends, even after ``kill -9``, so a stale lock cannot survive its deployment. The
owning process hands the descriptor down to the webserver, daemon, code server and sandbox
(``pass_fds``): if the owner is killed and they live on, the home still reads as taken, and
:func:`stop_deployment` ends them. ``deployment.json`` alone proves nothing (it may be left from a
crash); it is read only while the lock is held. No Dagster import here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amc_pipelines import clock

LOCK_FILE = "deployment.lock"
RECORD_FILE = "deployment.json"


class HomeInUse(RuntimeError):
    """Another deployment holds the Dagster home; the message says what runs and how to stop it."""

    def __init__(self, running: RunningDeployment) -> None:
        super().__init__(running.describe())
        self.running = running


@dataclass
class RunningDeployment:
    """What ``deployment.json`` says about the deployment holding a Dagster home."""

    home: str
    purpose: str = "a deployment"  # "make dev", "make demo", "the end-to-end test"...
    pid: int | None = None  # the process that started it (and stops it on Ctrl-C or SIGTERM)
    url: str | None = None  # the webserver
    started: str | None = None  # ISO 8601, UTC
    processes: dict[str, int] = field(default_factory=dict)  # name -> pid, each leading its own group

    @property
    def owner_alive(self) -> bool:
        return self.pid is not None and _alive(self.pid)

    def describe(self) -> str:
        """What runs and how to stop it, for a user who just tried to start another one."""
        what = f"{self.purpose} (pid {self.pid}" if self.pid else f"{self.purpose} ("
        what += f", started {self.started[:19].replace('T', ' ')} UTC)" if self.started else ")"
        where = f"; its UI is at {self.url}" if self.url else ""
        if self.owner_alive:
            stop = f"press Ctrl-C where it runs, or run `amc dagster stop` (sends SIGTERM to pid {self.pid})"
        else:
            stop = ("the process that started it is gone but its Dagster processes "
                    f"({', '.join(f'{n} {p}' for n, p in self.processes.items()) or 'unknown'}) still hold the "
                    "home: `amc dagster stop` ends them")
        return (f"{what} is already running on DAGSTER_HOME={self.home}{where}.\n"
                f"Use that one, or stop it first: {stop}.")


class HomeLock:
    """``with HomeLock(home, purpose):`` hold ``home`` exclusively, or raise :class:`HomeInUse` at once."""

    def __init__(self, home: Path, purpose: str) -> None:
        self.home = Path(home)
        self.record = RunningDeployment(home=str(self.home), purpose=purpose)
        self._file = None

    @property
    def fd(self) -> int:
        """The locked descriptor, to hand down to child processes."""
        assert self._file is not None, "the lock is not held"
        return self._file.fileno()

    def acquire(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        handle = open(self.home / LOCK_FILE, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise HomeInUse(_read_record(self.home)) from None
        self._file = handle
        self.record.pid = os.getpid()
        self.record.started = clock.now().isoformat(timespec="seconds")
        self.update()

    def update(self, **fields: object) -> None:
        """Change fields of ``deployment.json`` (written atomically)."""
        for name, value in fields.items():
            setattr(self.record, name, value)
        target = self.home / RECORD_FILE
        partial = target.with_suffix(".json.partial")
        partial.write_text(json.dumps(asdict(self.record), indent=2) + "\n")
        partial.replace(target)

    def release(self) -> None:
        if self._file is None:
            return
        with contextlib.suppress(FileNotFoundError):
            (self.home / RECORD_FILE).unlink()
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None

    def __enter__(self) -> HomeLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def find_running(home: Path) -> RunningDeployment | None:
    """The deployment holding ``home``, or None when none does (whatever ``deployment.json`` says)."""
    path = Path(home) / LOCK_FILE
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_record(Path(home))
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None


def stop_deployment(home: Path, *, timeout: float = 60.0) -> RunningDeployment | None:
    """Stop the deployment holding ``home``: SIGTERM to the process that started it (which stops its
    processes in order), or, when that one is gone, to its processes' groups; SIGKILL what still
    holds the home after ``timeout``. Returns what was running, None when nothing was."""
    running = find_running(home)
    if running is None:
        return None
    if running.owner_alive:
        _signal(os.kill, running.pid, signal.SIGTERM)
    else:
        for pgid in running.processes.values():
            _signal(os.killpg, pgid, signal.SIGTERM)
    if _released(home, timeout):
        return running
    for pgid in running.processes.values():
        _signal(os.killpg, pgid, signal.SIGKILL)
    if running.pid:
        _signal(os.kill, running.pid, signal.SIGKILL)
    if not _released(home, 10.0):
        raise RuntimeError(f"{running.purpose} on DAGSTER_HOME={home} did not stop; its processes: {running.processes}")
    return running


def _released(home: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while find_running(home) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _signal(send, target: int | None, sig: signal.Signals) -> None:
    if target:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            send(target, sig)


def _read_record(home: Path) -> RunningDeployment:
    try:
        data = json.loads((home / RECORD_FILE).read_text())
        fields = {name: data[name] for name in RunningDeployment.__dataclass_fields__ if name in data}
        return RunningDeployment(**{**fields, "home": str(home)})
    except (OSError, ValueError, TypeError):  # being written, or from another version: say what we know
        return RunningDeployment(home=str(home))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
