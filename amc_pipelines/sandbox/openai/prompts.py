"""A request to ``/v1/chat/completions`` or ``/v1/responses``, checked as OpenAI checks it and reduced to
one :class:`Prompt` (the texts, tool results, tools and output format), so answering is written once.

Malformed requests raise :class:`OpenAIError` 400 with OpenAI's message and the parameter's path
(``messages[2].tool_call_id``, ``text.format.name``, ``tools[0].function.parameters``...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import tokens
from .errors import OpenAIError, invalid, missing
from .schema import strict_problem

CHAT = "chat.completions"
RESPONSES = "responses"
CHAT_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class FunctionTool:
    name: str
    parameters: dict[str, Any]
    strict: bool


@dataclass(frozen=True)
class OutputFormat:
    """``text``, ``json_object`` or ``json_schema`` (with ``name``, ``schema``, ``strict``)."""

    type: str
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool = False


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    name: str | None
    output: str


@dataclass
class Prompt:
    """What the model is asked, whichever endpoint asked it."""

    endpoint: str
    model: str
    texts: list[tuple[str, str]] = field(default_factory=list)  # (role, text), oldest first; tool results as "tool"
    tool_results: list[ToolResult] = field(default_factory=list)
    after_tool_result: bool = False  # the newest item is a tool result
    tools: list[FunctionTool] = field(default_factory=list)
    tool_choice: Any = "auto"
    output: OutputFormat = OutputFormat("text")
    max_output_tokens: int | None = None
    n: int = 1
    prompt_tokens: int = 0
    context: list[dict[str, Any]] = field(default_factory=list)  # responses: the input items, for storing

    @property
    def last_user_text(self) -> str:
        return next((text for role, text in reversed(self.texts) if role == "user"), "")

    @property
    def all_text(self) -> str:
        return "\n".join(text for _, text in self.texts)

    def tool(self, name: str) -> FunctionTool | None:
        return next((tool for tool in self.tools if tool.name == name), None)


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list (images etc. skipped)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content
                         if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text", "refusal"))
    return ""


def _common(body: dict[str, Any], endpoint: str) -> Prompt:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("you must provide a model parameter", "model", "missing_required_parameter")
    if body.get("stream"):
        raise invalid("The sandbox's OpenAI stand-in does not stream: call without stream=True.", "stream",
                      "unsupported_value")
    temperature = body.get("temperature")
    if temperature is not None:
        if not isinstance(temperature, int | float) or isinstance(temperature, bool):
            raise invalid(f"Invalid type for 'temperature': expected a decimal, but got {type(temperature).__name__} "
                          "instead.", "temperature", "invalid_type")
        if not 0 <= temperature <= 2:
            raise invalid(f"Invalid 'temperature': decimal {'above maximum' if temperature > 2 else 'below minimum'} "
                          f"value. Expected a value {'<= 2' if temperature > 2 else '>= 0'}, but got {temperature} "
                          "instead.", "temperature", "decimal_above_max_value" if temperature > 2 else "decimal_below_min_value")
    return Prompt(endpoint=endpoint, model=model)


def _schema_format(name: Any, schema: Any, strict: Any, param: str, what: str) -> OutputFormat:
    if not isinstance(name, str) or not name:
        raise missing(f"{param}.name")
    if not TOOL_NAME.match(name):
        raise invalid(f"Invalid '{param}.name': string does not match pattern. Expected a string that matches the "
                      "pattern '^[a-zA-Z0-9_-]+$'.", f"{param}.name", "invalid_value")
    if schema is None:
        schema = {}
    if not isinstance(schema, dict):
        raise invalid(f"Invalid type for '{param}.schema': expected an object.", f"{param}.schema", "invalid_type")
    if strict:
        problem = strict_problem(schema)
        if problem:
            raise invalid(f"Invalid schema for {what} '{name}': {problem}", what_param(param), "invalid_json_schema")
    return OutputFormat("json_schema", name, schema, bool(strict))


def what_param(param: str) -> str:
    return "response_format" if param.startswith("response_format") else f"{param}.schema"


def _function(name: Any, parameters: Any, strict: Any, param: str) -> FunctionTool:
    if not isinstance(name, str) or not name:
        raise missing(f"{param}.name")
    if not TOOL_NAME.match(name):
        raise invalid(f"Invalid '{param}.name': string does not match pattern. Expected a string that matches the "
                      "pattern '^[a-zA-Z0-9_-]+$'.", f"{param}.name", "invalid_value")
    parameters = parameters if parameters is not None else {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise invalid(f"Invalid type for '{param}.parameters': expected an object.", f"{param}.parameters", "invalid_type")
    if strict:
        problem = strict_problem(parameters)
        if problem:
            raise invalid(f"Invalid schema for function '{name}': {problem}", f"{param}.parameters",
                          "invalid_function_parameters")
    return FunctionTool(name, parameters, bool(strict))


def _max_tokens(body: dict[str, Any], names: tuple[str, ...], minimum: int) -> int | None:
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(f"Invalid type for '{name}': expected an integer.", name, "invalid_type")
        if value < minimum:
            raise invalid(f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, but got "
                          f"{value} instead.", name, "integer_below_min_value")
        return value
    return None


def _check_tool_choice(prompt: Prompt, choice: Any) -> None:
    if choice is None:
        return
    if prompt.tools == [] and choice not in ("none", "auto"):
        raise invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                      "tool_choice")
    if isinstance(choice, dict):
        name = choice.get("name") or (choice.get("function") or {}).get("name")
        if name is not None and prompt.tool(name) is None:
            raise invalid(f"Tool choice '{name}' not found in 'tools' parameter.", "tool_choice")
    elif choice not in ("none", "auto", "required"):
        raise invalid(f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.",
                      "tool_choice", "invalid_value")
    prompt.tool_choice = choice


# ---- /v1/chat/completions ---------------------------------------------------------------------------------


def chat_prompt(body: dict[str, Any]) -> Prompt:
    prompt = _common(body, CHAT)
    messages = body.get("messages")
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list):
        raise invalid("Invalid type for 'messages': expected an array of objects.", "messages", "invalid_type")
    if not messages:
        raise invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
                      "array instead.", "messages", "empty_array")
    pending: dict[str, tuple[int, str]] = {}  # tool_call_id -> (index of the assistant message, function name)
    names: dict[str, str] = {}
    prompt.prompt_tokens = tokens.REPLY_PRIMING
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"Invalid type for 'messages[{index}]': expected an object.", f"messages[{index}]", "invalid_type")
        role = message.get("role")
        if role not in CHAT_ROLES:
            raise invalid(f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', "
                          "'tool', and 'developer'.", f"messages[{index}].role", "invalid_value")
        if role != "tool" and pending:
            first = min(pending.values())[0]
            raise invalid("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                          f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                          f"{', '.join(sorted(pending))}", f"messages.[{first}].role")
        text = _text_of(message.get("content"))
        prompt.prompt_tokens += tokens.PER_MESSAGE + tokens.count(role) + tokens.count(text)
        if message.get("name"):
            prompt.prompt_tokens += tokens.PER_NAME
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise missing(f"messages[{index}].tool_call_id")
            if call_id not in pending and call_id not in names:
                raise invalid("Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                              "with 'tool_calls'.", f"messages.[{index}].role")
            pending.pop(call_id, None)
            prompt.tool_results.append(ToolResult(call_id, names.get(call_id), text))
            prompt.texts.append(("tool", text))
            continue
        if role == "assistant":
            for call_index, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") if isinstance(call, dict) else None
                if not isinstance(function, dict) or not call.get("id"):
                    raise missing(f"messages[{index}].tool_calls[{call_index}].id" if isinstance(function, dict)
                                  else f"messages[{index}].tool_calls[{call_index}].function")
                pending[call["id"]] = (index, str(function.get("name")))
                names[call["id"]] = str(function.get("name"))
                prompt.prompt_tokens += tokens.PER_TOOL_CALL + tokens.count_json(function)
        prompt.texts.append((role, text))
    if pending:
        first = min(pending.values())[0]
        raise invalid("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                      f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                      f"{', '.join(sorted(pending))}", f"messages.[{first}].role")
    prompt.after_tool_result = messages[-1].get("role") == "tool"
    for index, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise invalid(f"Invalid value: '{tool.get('type') if isinstance(tool, dict) else tool}'. Supported values "
                          "are: 'function' and 'custom'.", f"tools[{index}].type", "invalid_value")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise missing(f"tools[{index}].function")
        prompt.tools.append(_function(function.get("name"), function.get("parameters"), function.get("strict"),
                                      f"tools[{index}].function"))
        prompt.prompt_tokens += tokens.count_json(function)
    _check_tool_choice(prompt, body.get("tool_choice"))
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise invalid(f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and 'text'.",
                          "response_format.type", "invalid_value")
        if kind == "json_schema":
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict):
                raise missing("response_format.json_schema")
            prompt.output = _schema_format(spec.get("name"), spec.get("schema"), spec.get("strict"),
                                           "response_format.json_schema", "response_format")
            prompt.prompt_tokens += tokens.count_json(spec.get("schema") or {})
        elif kind == "json_object":
            if "json" not in prompt.all_text.lower():
                raise invalid("'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                              "'json_object'.", "messages")
            prompt.output = OutputFormat("json_object")
    prompt.max_output_tokens = _max_tokens(body, ("max_completion_tokens", "max_tokens"), 1)
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
        raise invalid(f"Invalid 'n': expected an integer between 1 and 128, but got {n!r} instead.", "n", "invalid_value")
    prompt.n = n
    return prompt


# ---- /v1/responses ----------------------------------------------------------------------------------------

INPUT_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")


def responses_prompt(body: dict[str, Any], previous: list[dict[str, Any]] | None) -> Prompt:
    """``previous``: the stored context and output items of ``previous_response_id`` (already looked up)."""
    prompt = _common(body, RESPONSES)
    raw = body.get("input")
    if raw is None and previous is None:
        raise missing("input")
    if isinstance(raw, str):
        items: list[Any] = [{"type": "message", "role": "user", "content": raw}]
    elif isinstance(raw, list):
        items = raw
    elif raw is None:
        items = []
    else:
        raise invalid("Invalid type for 'input': expected a string or an array of input items.", "input", "invalid_type")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise invalid("Invalid type for 'instructions': expected a string.", "instructions", "invalid_type")
    if instructions:
        prompt.texts.append(("system", instructions))
        prompt.prompt_tokens += tokens.PER_MESSAGE + tokens.count(instructions)
    calls: dict[str, str] = {}
    for item in previous or []:
        _add_item(prompt, item, calls, None)
    prompt.context = list(previous or [])
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid(f"Invalid type for 'input[{index}]': expected an object.", f"input[{index}]", "invalid_type")
        item = dict(item)
        item.setdefault("type", "message")
        if item["type"] not in INPUT_ITEM_TYPES:
            raise invalid(f"Invalid value: '{item['type']}'. Supported values are: "
                          f"{', '.join(repr(t) for t in INPUT_ITEM_TYPES)}.", f"input[{index}].type", "invalid_value")
        _add_item(prompt, item, calls, index)
        prompt.context.append(item)
    last = items[-1] if items else None
    prompt.after_tool_result = isinstance(last, dict) and last.get("type") == "function_call_output"
    for index, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise invalid(f"Invalid value: '{tool.get('type') if isinstance(tool, dict) else tool}'. The sandbox's "
                          "stand-in supports 'function' tools only.", f"tools[{index}].type", "invalid_value")
        prompt.tools.append(_function(tool.get("name"), tool.get("parameters"), tool.get("strict", True), f"tools[{index}]"))
        prompt.prompt_tokens += tokens.count_json({k: v for k, v in tool.items() if k != "type"})
    _check_tool_choice(prompt, body.get("tool_choice"))
    text = body.get("text") or {}
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise invalid(f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and 'json_schema'.",
                          "text.format.type", "invalid_value")
        if kind == "json_schema":
            prompt.output = _schema_format(fmt.get("name"), fmt.get("schema"), fmt.get("strict"), "text.format",
                                           "response_format")
            prompt.prompt_tokens += tokens.count_json(fmt.get("schema") or {})
        elif kind == "json_object":
            if "json" not in prompt.all_text.lower():
                raise invalid("Response input messages must contain the word 'json' in some form to use 'text.format' "
                              "of type 'json_object'.", "input")
            prompt.output = OutputFormat("json_object")
    prompt.max_output_tokens = _max_tokens(body, ("max_output_tokens",), 16)
    prompt.prompt_tokens += tokens.REPLY_PRIMING
    return prompt


def _add_item(prompt: Prompt, item: dict[str, Any], calls: dict[str, str], index: int | None) -> None:
    where = f"input[{index}]" if index is not None else "previous_response_id"
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise invalid(f"Invalid value: '{role}'. Supported values are: 'assistant', 'system', 'developer', and "
                          "'user'.", f"{where}.role", "invalid_value")
        text = _text_of(item.get("content"))
        prompt.texts.append((role, text))
        prompt.prompt_tokens += tokens.PER_MESSAGE + tokens.count(role) + tokens.count(text)
    elif kind == "function_call":
        call_id, name = item.get("call_id"), item.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise missing(f"{where}.call_id")
        calls[call_id] = str(name)
        prompt.prompt_tokens += tokens.PER_TOOL_CALL + tokens.count(str(name)) + tokens.count_json(item.get("arguments", ""))
    elif kind == "function_call_output":
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise missing(f"{where}.call_id")
        if call_id not in calls:
            raise invalid(f"No tool call found for function call output with call_id {call_id}.", "input")
        output = item.get("output")
        text = output if isinstance(output, str) else _text_of(output) if isinstance(output, list) else json.dumps(output)
        prompt.tool_results.append(ToolResult(call_id, calls[call_id], text))
        prompt.texts.append(("tool", text))
        prompt.prompt_tokens += tokens.PER_MESSAGE + tokens.count(text)


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise OpenAIError(400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                          "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent "
                          "was not valid JSON.)", param=None)
    return body
