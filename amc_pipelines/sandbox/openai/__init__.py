"""The OpenAI stand-in: the OpenAI API as the ``openai`` SDK (3.x) calls it, scripted by tests.

Served by the sandbox on its own port under ``/v1`` (select it with the client's ``base_url``,
``AMC_OPENAI_BASE_URL``), controls under ``/_sandbox/openai``. ``/v1/chat/completions`` and
``/v1/responses`` with function tools and structured outputs (strict JSON schemas checked), usage,
OpenAI's error bodies, faults on demand (:mod:`.config`); answers come from the test's script
(:mod:`.script`) or, unscripted, deterministically from the prompt's own facts (:mod:`.answers`).
No LLM, no network, no import of the SDK.

Public API: :class:`OpenAIConfig`, :class:`OpenAIFaultRates`, :class:`OpenAIStandIn` and :func:`mount`.
"""

from __future__ import annotations

from starlette.routing import Mount

from .config import OpenAIConfig, OpenAIFaultRates
from .control import CONTROL_PREFIX, control_app
from .routes import API_PREFIX, api_app
from .service import OpenAIStandIn


def mount(stand_in: OpenAIStandIn) -> list[Mount]:
    """The API under ``/v1`` and the controls under ``/_sandbox/openai``."""
    return [Mount(API_PREFIX, app=api_app(stand_in)), Mount(CONTROL_PREFIX, app=control_app(stand_in))]


__all__ = ["API_PREFIX", "CONTROL_PREFIX", "OpenAIConfig", "OpenAIFaultRates", "OpenAIStandIn", "mount"]
