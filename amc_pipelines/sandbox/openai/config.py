"""Configuration of the OpenAI stand-in, and parsing of its ``--openai-faults`` string.

``--openai-faults`` takes ``kind=rate`` pairs like the other stand-ins' fault options: ``5xx`` (500 or
503 ``server_error``), ``429`` (``rate_limit_exceeded`` with ``retry-after`` headers) and ``slow`` (the
answer ``slow_fault_seconds`` late). Drawn once per ``/v1/*`` call, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amc_pipelines.sandbox.api.config import ConfigError, format_fault_rates, parse_fault_rates

# --openai-faults key -> OpenAIFaultRates attribute.
OPENAI_FAULT_KEYS: dict[str, str] = {"5xx": "server_error", "429": "rate_limited", "slow": "slow"}

# Models listed by GET /v1/models and accepted by the endpoints (a dated snapshot of one, such as
# gpt-4o-mini-2024-07-18, is accepted too).
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5", "gpt-5-mini", "o4-mini")


@dataclass(frozen=True)
class OpenAIFaultRates:
    """Probability of each injected fault, drawn once per ``/v1/*`` call (their sum must stay <= 1)."""

    server_error: float = 0.0
    rate_limited: float = 0.0
    slow: float = 0.0

    REQUEST_KINDS = ("server_error", "rate_limited", "slow")

    @classmethod
    def parse(cls, text: str | None) -> OpenAIFaultRates:
        return parse_fault_rates(cls, text, OPENAI_FAULT_KEYS, option="--openai-faults", example="5xx=0.1,429=0.2")

    def __str__(self) -> str:
        return format_fault_rates(self, OPENAI_FAULT_KEYS)


@dataclass(frozen=True)
class OpenAIConfig:
    """What the stand-in serves and insists on.

    ``api_key``: when set, every ``/v1`` request must carry ``Authorization: Bearer <api_key>``
    (401 otherwise); None accepts any key or none, as a local stand-in should by default.
    """

    api_key: str | None = field(default=None, repr=False)
    models: tuple[str, ...] = DEFAULT_MODELS
    seed: int = 7
    faults: OpenAIFaultRates = OpenAIFaultRates()
    slow_fault_seconds: float = 2.0
    # The delay a 429 asks for (retry-after-ms / retry-after headers); the SDK waits that long.
    retry_after_seconds: float = 1.0
    # Stored responses kept for previous_response_id (oldest dropped first).
    max_stored_responses: int = 1000

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("OpenAI stand-in: give at least one model.")
        if self.retry_after_seconds < 0 or self.slow_fault_seconds < 0:
            raise ConfigError("retry_after_seconds and slow_fault_seconds must be >= 0.")
        if self.max_stored_responses < 1:
            raise ConfigError("max_stored_responses must be at least 1.")

    def knows_model(self, model: str) -> bool:
        return any(model == known or model.startswith(known + "-20") for known in self.models)
