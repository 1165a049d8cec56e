"""The model's side: a scripted reply or the deterministic default answer, then the endpoint's body.

Default answers (no scripted reply matched) use only what the request states (:class:`schema.Facts`):
a structured output is built from its schema; ``tool_choice`` "required" or a named function calls
that tool (the first one for "required") with arguments built from its parameters; otherwise text:
after a tool result "The <tool> tool returned: <result>", else "Sandbox answer: <a fact of the prompt>".
No number that the prompt does not contain is ever written, so a grounded narrative is possible.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from . import tokens
from .errors import OpenAIError, invalid_key, rate_limited, script_error, server_error
from .prompts import CHAT, Prompt
from .schema import Facts, build, validate
from .script import Reply

MAX_QUOTED_RESULT = 500


class Ids:
    """Deterministic ids per prefix (``call_0001``, ``resp_0001``...), restarted by reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, itertools.count[int]] = {}

    def next(self, prefix: str, separator: str = "_") -> str:
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count(1))
            return f"{prefix}{separator}sandbox{next(counter):04d}"

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()


@dataclass
class ToolCall:
    call_id: str
    name: str
    arguments: str


@dataclass
class Answer:
    source: str  # "script[N]" (the reply's position in the script) or "default"
    text: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    input_tokens: int = 0
    output_tokens: int = 0


def _truncate(text: str, limit: int) -> str:
    """The longest prefix of whole words within ``limit`` tokens."""
    words = text.split(" ")
    kept: list[str] = []
    for word in words:
        if tokens.count(" ".join([*kept, word])) > limit:
            break
        kept.append(word)
    return " ".join(kept)


def _scripted_error(error: Any, prompt: Prompt, retry_after: float) -> OpenAIError:
    """The scripted error with OpenAI's message, type, code and headers for its status unless given."""
    seconds = error.retry_after if error.retry_after is not None else retry_after
    if error.status == 429:
        base = rate_limited(prompt.model, seconds)
    elif error.status == 401:
        base = invalid_key("sk-scripted-invalid-key")
    elif error.status >= 500:
        base = server_error(error.status)
    else:
        base = OpenAIError(error.status, "The sandbox's script asked for this error.")
    return OpenAIError(error.status, error.message or base.message, type=error.type or base.type, param=error.param,
                       code=error.code or base.code, headers=base.headers)


def _arguments(prompt: Prompt, name: str, arguments: dict[str, Any] | str, check: bool) -> str:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    if not check:
        return text
    tool = prompt.tool(name)
    if tool is None:
        offered = ", ".join(t.name for t in prompt.tools) or "none"
        raise script_error(f"the reply calls tool {name!r} but the request offers {offered}; "
                           "add \"validate\": false to the reply to call it anyway")
    if tool.strict:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise script_error(f"the arguments of {name!r} are not JSON; add \"validate\": false to send them anyway") from None
        problems = validate(value, tool.parameters)
        if problems:
            raise script_error(f"the arguments of {name!r} break its strict schema: {'; '.join(problems[:5])}; "
                               "add \"validate\": false to send them anyway")
    return text


def answer(prompt: Prompt, scripted: tuple[int, Reply] | None, ids: Ids, retry_after: float) -> Answer:
    """The answer to ``prompt`` (raises :class:`OpenAIError` for a scripted error or a script mistake)."""
    if scripted is None:
        result = _default(prompt, ids)
    else:
        position, reply = scripted
        result = Answer(source=f"script[{position}]")
        if reply.error is not None:
            raise _scripted_error(reply.error, prompt, retry_after)
        if reply.refusal is not None:
            result.refusal = reply.refusal
        elif reply.tool_calls is not None:
            result.text = reply.text
            result.tool_calls = [ToolCall(call.id or ids.next("call"), call.name,
                                          _arguments(prompt, call.name, call.arguments, reply.validate_answer))
                                 for call in reply.tool_calls]
        elif reply.text is not None:
            result.text = reply.text
        else:
            value = reply.json_answer
            if reply.validate_answer and prompt.output.type == "json_schema" and prompt.output.strict:
                problems = validate(value, prompt.output.schema or {})
                if problems:
                    raise script_error(f"the JSON answer breaks the strict schema {prompt.output.name!r}: "
                                       f"{'; '.join(problems[:5])}; add \"validate\": false to send it anyway")
            result.text = json.dumps(value)
        if reply.finish_reason:
            result.finish_reason = reply.finish_reason
    if result.tool_calls and result.finish_reason == "stop":
        result.finish_reason = "tool_calls"
    _count(prompt, result)
    if scripted is not None and scripted[1].usage is not None:
        result.input_tokens, result.output_tokens = scripted[1].usage.input_tokens, scripted[1].usage.output_tokens
    return result


def _count(prompt: Prompt, result: Answer) -> None:
    result.input_tokens = prompt.prompt_tokens
    output = tokens.count(result.text or "") + tokens.count(result.refusal or "")
    output += sum(tokens.PER_TOOL_CALL + tokens.count(call.name) + tokens.count(call.arguments) for call in result.tool_calls)
    limit = prompt.max_output_tokens
    if limit is not None and output > limit and result.text is not None and not result.tool_calls:
        result.text = _truncate(result.text, limit)
        result.finish_reason = "length"
        output = tokens.count(result.text)
    result.output_tokens = output


def _default(prompt: Prompt, ids: Ids) -> Answer:
    facts = Facts.of([text for _, text in prompt.texts], prompt.last_user_text)
    result = Answer(source="default")
    choice = prompt.tool_choice
    forced = None
    if isinstance(choice, dict):
        forced = choice.get("name") or (choice.get("function") or {}).get("name")
    elif choice == "required" and prompt.tools:
        forced = prompt.tools[0].name
    if forced is not None:
        tool = prompt.tool(forced)
        arguments = build(tool.parameters, facts) if tool is not None else {}
        result.tool_calls = [ToolCall(ids.next("call"), forced, json.dumps(arguments))]
    elif prompt.output.type == "json_schema":
        result.text = json.dumps(build(prompt.output.schema or {}, facts))
    elif prompt.output.type == "json_object":
        result.text = json.dumps(facts.records[0] if facts.records else {"answer": facts.sentence(0)})
    elif prompt.after_tool_result:
        last = prompt.tool_results[-1]
        quoted = last.output if len(last.output) <= MAX_QUOTED_RESULT else last.output[:MAX_QUOTED_RESULT].rsplit(" ", 1)[0]
        result.text = f"The {last.name or 'tool'} tool returned: {quoted}"
    else:
        result.text = f"Sandbox answer: {facts.sentence(0)}"
    return result


# ---- bodies -----------------------------------------------------------------------------------------------


def chat_body(prompt: Prompt, result: Answer, ids: Ids) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.text, "refusal": result.refusal, "annotations": []}
    if result.tool_calls:
        message["tool_calls"] = [{"id": call.call_id, "type": "function",
                                  "function": {"name": call.name, "arguments": call.arguments}}
                                 for call in result.tool_calls]
    choices = [{"index": index, "message": message, "logprobs": None, "finish_reason": result.finish_reason}
               for index in range(prompt.n)]
    completion = result.output_tokens * prompt.n
    return {
        "id": ids.next("chatcmpl", "-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": prompt.model,
        "choices": choices,
        "usage": {
            "prompt_tokens": result.input_tokens,
            "completion_tokens": completion,
            "total_tokens": result.input_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_sandbox",
    }


def response_output(result: Answer, ids: Ids) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    if result.text is not None or result.refusal is not None:
        content = ([{"type": "refusal", "refusal": result.refusal}] if result.refusal is not None
                   else [{"type": "output_text", "text": result.text, "annotations": [], "logprobs": []}])
        output.append({"type": "message", "id": ids.next("msg"), "status":
                       "incomplete" if result.finish_reason == "length" else "completed",
                       "role": "assistant", "content": content})
    for call in result.tool_calls:
        output.append({"type": "function_call", "id": ids.next("fc"), "call_id": call.call_id, "name": call.name,
                       "arguments": call.arguments, "status": "completed"})
    return output


def responses_body(prompt: Prompt, body: dict[str, Any], result: Answer, ids: Ids) -> dict[str, Any]:
    incomplete = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(result.finish_reason)
    fmt = (body.get("text") or {}).get("format") or {"type": "text"}
    return {
        "id": ids.next("resp"),
        "object": "response",
        "created_at": time.time(),
        "status": "incomplete" if incomplete else "completed",
        "background": False,
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "model": prompt.model,
        "output": response_output(result, ids),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": fmt},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": result.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": result.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": result.input_tokens + result.output_tokens,
        },
        "user": None,
    }


__all__ = ["CHAT", "Answer", "Ids", "answer", "chat_body", "responses_body"]
