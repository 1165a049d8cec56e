"""Configuration of the AMC sandbox HTTP service, and parsing of its command-line strings.

``--latency`` takes ``SECONDS`` or ``MIN-MAX`` (uniform, seeded); ``--faults`` takes
``kind=rate`` pairs, e.g. ``5xx=0.2,429=0.05,timeout=0.02,failed=0.05,truncate=0.05``.
Bad values raise :class:`ConfigError` with a message that says what to write instead.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


class ConfigError(ValueError):
    """A sandbox option is malformed; the message names the option and the fix."""


@dataclass(frozen=True)
class Latency:
    """How long a RUNNING execution takes at least: uniform between minimum and maximum seconds."""

    minimum: float = 0.0
    maximum: float = 0.0

    @classmethod
    def parse(cls, text: str | float | int | None) -> Latency:
        if text is None or text == "":
            return cls()
        if isinstance(text, int | float):
            return cls._checked(float(text), float(text), str(text))
        raw = text.strip()
        low_text, sep, high_text = raw.partition("-")
        try:
            low = float(low_text)
            high = float(high_text) if sep else low
        except ValueError:
            raise ConfigError(
                f"--latency {raw!r} is not valid: give seconds (e.g. 0.5) or a range MIN-MAX (e.g. 0.2-1)."
            ) from None
        return cls._checked(low, high, raw)

    @classmethod
    def _checked(cls, low: float, high: float, raw: str) -> Latency:
        if low < 0 or high < low:
            raise ConfigError(f"--latency {raw!r} is not valid: need 0 <= MIN <= MAX (e.g. 0.2-1).")
        return cls(low, high)

    def __str__(self) -> str:
        return f"{self.minimum:g}" if self.minimum == self.maximum else f"{self.minimum:g}-{self.maximum:g}"


# --faults key -> FaultRates attribute.
FAULT_KEYS: dict[str, str] = {
    "5xx": "server_error",
    "429": "throttled",
    "timeout": "timeout",
    "slow": "slow",
    "drop": "dropped",
    "failed": "failed",
    "truncate": "truncated",
    "expire": "expired",
}


def parse_fault_rates(cls, text: str | None, keys: dict[str, str], *, option: str, example: str):
    """``cls`` (a dataclass of rates with ``REQUEST_KINDS``) from "KIND=RATE,..." as the sandbox's
    fault options take it; ``keys`` maps each KIND to its field. The one parser of both stand-ins."""
    if text is None or text.strip() == "":
        return cls()
    values: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, rate_text = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in keys:
            raise ConfigError(f"{option} item {item!r} is not valid: use KIND=RATE with KIND one of "
                              f"{', '.join(keys)} (e.g. {example}).")
        try:
            rate = float(rate_text)
        except ValueError:
            raise ConfigError(f"{option} {key}={rate_text!r}: the rate must be a number between 0 and 1.") from None
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"{option} {key}={rate:g}: the rate must be between 0 and 1.")
        values[keys[key]] = rate
    rates = cls(**values)
    request_total = sum(getattr(rates, kind) for kind in cls.REQUEST_KINDS)
    if request_total > 1.0 + 1e-9:
        names = {attr: key for key, attr in keys.items()}
        kinds = [names[kind] for kind in cls.REQUEST_KINDS]
        raise ConfigError(f"{option}: {', '.join(kinds[:-1])} and {kinds[-1]} add up to {request_total:g}; "
                          f"keep their sum <= 1.")
    return rates


def format_fault_rates(rates, keys: dict[str, str]) -> str:
    """The "KIND=RATE,..." text of the rates that are not zero (what :func:`parse_fault_rates` reads)."""
    names = {attr: key for key, attr in keys.items()}
    return ",".join(f"{names[f.name]}={getattr(rates, f.name):g}" for f in fields(rates) if getattr(rates, f.name))


@dataclass(frozen=True)
class FaultRates:
    """Probability of each injected fault.

    Request faults (``server_error``, ``throttled``, ``timeout``, ``slow``, ``dropped``) are drawn
    once per ``/amc/*`` call, so their sum must stay <= 1. ``failed`` is drawn per execution,
    ``truncated`` per download and ``expired`` per issued download URL.
    """

    server_error: float = 0.0
    throttled: float = 0.0
    timeout: float = 0.0
    slow: float = 0.0
    dropped: float = 0.0
    failed: float = 0.0
    truncated: float = 0.0
    expired: float = 0.0

    REQUEST_KINDS = ("server_error", "throttled", "timeout", "slow", "dropped")

    @classmethod
    def parse(cls, text: str | None) -> FaultRates:
        return parse_fault_rates(cls, text, FAULT_KEYS, option="--faults", example="5xx=0.2,429=0.05")

    def __str__(self) -> str:
        return format_fault_rates(self, FAULT_KEYS)

    @property
    def any(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class SandboxConfig:
    """Everything the sandbox service needs; defaults behave like AMC without faults or waiting."""

    host: str = "127.0.0.1"
    port: int = 8765
    seed: int = 7
    size: str = "demo"
    # Where the synthetic dataset is cached (datagen) and where result files are written.
    data_dir: Path = Path(".amc/sandbox")
    work_dir: Path | None = None  # default: data_dir / "work"
    latency: Latency = Latency()
    faults: FaultRates = FaultRates()
    max_running_per_instance: int = 10
    query_threads: int = 4
    max_rows_per_file: int = 100_000
    download_url_ttl_seconds: float = 600.0
    token_ttl_seconds: float = 3600.0
    # LwA credentials the token endpoint insists on; None accepts anything.
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    # Request rate limit on /amc/* (token bucket); None disables it.
    rate_limit_per_second: float | None = None
    rate_limit_burst: int = 10
    rate_limit_scope: str = "client"  # "client" (per Amazon-Advertising-API-ClientId) or "global"
    timeout_fault_seconds: float = 30.0  # a "timeout" fault holds the request this long
    slow_fault_seconds: float = 2.0  # a "slow" fault delays the answer this long
    default_execution_timeout_seconds: int = 21600
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def __post_init__(self) -> None:
        # Accept str paths from callers; frozen, hence object.__setattr__.
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if self.work_dir is not None:
            object.__setattr__(self, "work_dir", Path(self.work_dir))
        if self.size not in ("small", "demo", "large"):
            raise ConfigError(f"size {self.size!r} is not valid: use small, demo or large.")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range: use 1-65535 (0 picks a free port).")
        for name in ("max_running_per_instance", "query_threads", "max_rows_per_file", "rate_limit_burst"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}.")
        if self.rate_limit_per_second is not None and self.rate_limit_per_second <= 0:
            raise ConfigError("rate_limit_per_second must be positive (or None to disable the rate limit).")
        if self.rate_limit_scope not in ("client", "global"):
            raise ConfigError(f"rate_limit_scope {self.rate_limit_scope!r} is not valid: use client or global.")
        if self.download_url_ttl_seconds <= 0 or self.token_ttl_seconds <= 0:
            raise ConfigError("download_url_ttl_seconds and token_ttl_seconds must be positive.")

    @property
    def results_dir(self) -> Path:
        return self.work_dir if self.work_dir is not None else self.data_dir / "work"

    @property
    def credentials_required(self) -> bool:
        return any(v is not None for v in (self.client_id, self.client_secret, self.refresh_token))

    def with_options(self, **changes: object) -> SandboxConfig:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_options(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        latency: str | None = None,
        faults: str | None = None,
        seed: int = 7,
        size: str = "demo",
        data_dir: str | Path = Path(".amc/sandbox"),
        **extra: object,
    ) -> SandboxConfig:
        """The config the ``amc sandbox serve`` options describe (strings parsed, errors explained)."""
        return cls(
            host=host,
            port=port,
            latency=Latency.parse(latency),
            faults=FaultRates.parse(faults),
            seed=seed,
            size=size,
            data_dir=Path(data_dir),
            **extra,  # type: ignore[arg-type]
        )
