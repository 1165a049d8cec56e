"""The machine a benchmark ran on, as recorded in docs/benchmarks.md (shared by the benchmark scripts)."""

from __future__ import annotations

import multiprocessing
import os
import platform
import socket
import time
from collections.abc import Callable
from pathlib import Path


def machine() -> str:
    """CPUs and model, RAM and the load average now: read it before the benchmark starts its work."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({cpu}), {memory_gb:.0f} GB RAM, load average {load} at start"


class ChildServer:
    """``target(*args, port)`` serving HTTP on 127.0.0.1:port in a spawned child, so that its CPU is
    not the measured process's; a context manager that waits for ``/_sandbox/health`` and always
    ends the child."""

    def __init__(self, target: Callable[..., None], args: tuple, name: str, *, start_timeout: float) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.name, self.start_timeout = name, start_timeout
        self.process = multiprocessing.get_context("spawn").Process(target=target, args=(*args, port), name=name)

    def __enter__(self) -> ChildServer:
        import httpx

        self.process.start()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self.process.is_alive():
                raise SystemExit(f"the {self.name} process ended with code {self.process.exitcode}; see its output above")
            try:
                if httpx.get(f"{self.url}/_sandbox/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise SystemExit(f"the {self.name} did not answer within {self.start_timeout:.0f} s")

    def get_json(self, path: str) -> dict:
        import httpx

        return httpx.get(f"{self.url}{path}", timeout=10).json()

    def __exit__(self, *exc: object) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(15)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
