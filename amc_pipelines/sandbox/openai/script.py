"""What tests script: a queue of replies, each taken by the first request it matches, and the log of
every request received (``/_sandbox/openai/script``, ``/_sandbox/openai/requests``).

A reply is one of ``{"json": {...}}`` (a structured answer), ``{"text": "..."}``, ``{"tool_calls":
[{"name", "arguments"}]}`` (the model calls tools; ``text`` may go with it), ``{"refusal": "..."}`` or
``{"error": {"status": 429, ...}}``; optional ``match`` (all given conditions must hold), ``times``
(how many requests it answers, default 1), ``usage`` (token counts to report instead of the counted
ones), ``finish_reason`` and ``validate: false`` (send JSON or arguments that break a strict schema,
as a misbehaving model would; by default they are checked and a mismatch is the test's error).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .prompts import Prompt


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Match(_Strict):
    """Conditions on the request; a reply with several answers only requests meeting all of them."""

    endpoint: Literal["chat.completions", "responses"] | None = None
    model: str | None = None
    contains: str | None = None  # a substring of some message, instruction or tool result
    has_tool_result: bool | None = None  # the request carries a tool result (any turn)
    after_tool_result: bool | None = None  # the newest item is a tool result
    tool: str | None = None  # the request offers this function tool
    schema_name: str | None = Field(default=None, alias="schema")  # the structured output's name

    def matches(self, prompt: Prompt) -> bool:
        checks = [
            self.endpoint is None or prompt.endpoint == self.endpoint,
            self.model is None or prompt.model == self.model,
            self.contains is None or self.contains in prompt.all_text,
            self.has_tool_result is None or bool(prompt.tool_results) == self.has_tool_result,
            self.after_tool_result is None or prompt.after_tool_result == self.after_tool_result,
            self.tool is None or prompt.tool(self.tool) is not None,
            self.schema_name is None or prompt.output.name == self.schema_name,
        ]
        return all(checks)


class ScriptedToolCall(_Strict):
    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)
    id: str | None = None


class ScriptedError(_Strict):
    status: int = Field(ge=400, le=599)
    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None
    retry_after: float | None = Field(default=None, ge=0)  # seconds; default the stand-in's retry_after_seconds


class ScriptedUsage(_Strict):
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)


class Reply(_Strict):
    json_answer: Any = Field(default=None, alias="json")
    text: str | None = None
    tool_calls: list[ScriptedToolCall] | None = None
    refusal: str | None = None
    error: ScriptedError | None = None
    match: Match | None = None
    times: int = Field(default=1, ge=1)
    usage: ScriptedUsage | None = None
    finish_reason: Literal["stop", "length", "content_filter"] | None = None
    validate_answer: bool = Field(default=True, alias="validate")

    @model_validator(mode="after")
    def _one_answer(self) -> Reply:
        others = [name for name in ("json_answer", "tool_calls", "refusal", "error") if getattr(self, name) is not None]
        if (len(others) > 1 or (not others and self.text is None)
                or (self.text is not None and others and others != ["tool_calls"])):
            raise ValueError("a reply is exactly one of json, text, tool_calls (with optional text), refusal or error")
        return self

    @property
    def kind(self) -> str:
        for name, kind in (("error", "error"), ("tool_calls", "tool_calls"), ("refusal", "refusal"),
                           ("json_answer", "json")):
            if getattr(self, name) is not None:
                return kind
        return "text"


class ScriptBody(_Strict):
    replies: list[Reply]
    mode: Literal["replace", "append"] = "replace"


class Script:
    """The queue (thread-safe). :meth:`take` returns the first reply matching the request, or None."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[list[Any]] = deque()  # [position, reply, uses left]
        self._position = 0

    def load(self, replies: list[Reply], *, append: bool = False) -> int:
        with self._lock:
            if not append:
                self._queue.clear()
            for reply in replies:
                self._queue.append([self._position, reply, reply.times])
                self._position += 1
            return len(self._queue)

    def take(self, prompt: Prompt) -> tuple[int, Reply] | None:
        with self._lock:
            for entry in self._queue:
                position, reply, _ = entry
                if reply.match is None or reply.match.matches(prompt):
                    entry[2] -= 1
                    if entry[2] == 0:
                        self._queue.remove(entry)
                    return position, reply
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"position": position, "uses_left": left, **reply.model_dump(by_alias=True, exclude_none=True,
                                                                                 exclude_defaults=True)}
                    for position, reply, left in self._queue]

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._position = 0


# Headers kept in the request log; the Authorization header is never kept (only whether it was sent).
LOGGED_HEADERS = ("content-type", "user-agent", "x-stainless-retry-count", "x-stainless-helper-method",
                  "openai-organization", "openai-project", "idempotency-key")


class RequestLog:
    """Every ``/v1`` request as received: body, selected headers, status and which reply answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            entry["seq"] = len(self._entries) + 1
            self._entries.append(entry)
            return entry

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
