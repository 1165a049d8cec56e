"""The OpenAI stand-in through the real ``openai`` SDK over HTTP: completions, structured outputs, tool
calls, usage and models (scripting, errors and faults are in test_openai_script.py)."""

from __future__ import annotations

import json
import re

import openai
import pytest
from pydantic import BaseModel

from amc_pipelines.sandbox.openai import tokens
from amc_pipelines_tests.fixtures.openai import OPENAI_MODEL

FINDINGS = {"findings": [
    {"kind": "anomaly", "metric": "ctr", "campaign": "Spring Sale", "week_start": "2026-03-02", "clicks": 1234,
     "magnitude": -0.31},
    {"kind": "trend", "metric": "roas", "campaign": "Brand Defense", "week_start": "2026-02-23", "clicks": 87,
     "magnitude": 0.12},
]}


class Narrative(BaseModel):
    summary: str
    clicks: int
    recommendations: list[str]


class QueryMarts(BaseModel):
    """Run an allow-listed query over the weekly marts."""

    metric: str
    campaign: str | None


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"-?\d+(?:\.\d+)?", text))


def test_chat_completion_answers_deterministically_with_counted_usage(openai_sandbox) -> None:
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "How did Spring Sale do?"}]
    first = openai_sandbox.client.chat.completions.create(model=OPENAI_MODEL, messages=messages)
    second = openai_sandbox.client.chat.completions.create(model=OPENAI_MODEL, messages=messages)

    content = first.choices[0].message.content
    assert content == second.choices[0].message.content == "Sandbox answer: How did Spring Sale do?"
    assert first.object == "chat.completion" and first.model == OPENAI_MODEL and first.choices[0].finish_reason == "stop"
    prompt = tokens.REPLY_PRIMING + sum(tokens.PER_MESSAGE + tokens.count(m["role"]) + tokens.count(m["content"])
                                        for m in messages)
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (prompt, tokens.count(content))
    assert first.usage.total_tokens == prompt + tokens.count(content)
    assert second.usage == first.usage and first.id != second.id
    assert first._request_id.startswith("req_sandbox")


def test_token_counts_are_an_approximation_that_grows_with_the_text() -> None:
    assert tokens.count("Hello, world!") == 4  # Hello , world !
    assert tokens.count("1234567") == 3  # digits in groups of three
    assert tokens.count("internationalization") == 4  # one token per started 6 letters
    assert tokens.count("a b c") < tokens.count("a b c d e f")


def test_structured_output_without_script_uses_only_the_prompts_facts(openai_sandbox) -> None:
    facts = json.dumps(FINDINGS)
    completion = openai_sandbox.client.chat.completions.parse(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": f"Write about these findings:\n{facts}"}],
        response_format=Narrative)
    parsed = completion.choices[0].message.parsed

    assert isinstance(parsed, Narrative) and parsed.clicks == 1234
    assert parsed.summary == "kind: anomaly; metric: ctr; campaign: Spring Sale; week_start: 2026-03-02; clicks: 1234; magnitude: -0.31"
    assert len(parsed.recommendations) == 2 and "Brand Defense" in parsed.recommendations[1]
    written = parsed.summary + " ".join(parsed.recommendations)
    assert _numbers(written) <= _numbers(facts), "the default answer invented a number"


def test_responses_parse_takes_the_scripted_answer_and_sends_a_strict_schema(openai_sandbox) -> None:
    answer = {"summary": "CTR of Spring Sale fell 31 %.", "clicks": 1234, "recommendations": ["Refresh the creative."]}
    openai_sandbox.script({"json": answer})
    response = openai_sandbox.client.responses.parse(
        model=OPENAI_MODEL, instructions="Only use the facts.", input=json.dumps(FINDINGS), text_format=Narrative)

    assert response.output_parsed == Narrative(**answer)
    assert response.status == "completed" and response.usage.output_tokens == tokens.count(json.dumps(answer))
    sent = openai_sandbox.bodies("responses")[0]
    assert sent["text"]["format"]["type"] == "json_schema" and sent["text"]["format"]["strict"] is True
    assert sent["instructions"] == "Only use the facts." and sent["input"] == json.dumps(FINDINGS)
    assert openai_sandbox.requests()[0]["reply"] == "script[0]"


def test_scripted_json_that_breaks_the_strict_schema_is_the_tests_error_not_retried(openai_sandbox) -> None:
    openai_sandbox.script({"json": {"summary": "x", "clicks": "many", "recommendations": []}})
    with pytest.raises(openai.InternalServerError) as caught:
        openai_sandbox.client.chat.completions.parse(model=OPENAI_MODEL, messages=[{"role": "user", "content": "hi"}],
                                                     response_format=Narrative)
    assert "breaks the strict schema 'Narrative'" in caught.value.message and "$.clicks" in caught.value.message
    assert len(openai_sandbox.requests()) == 1  # x-should-retry: false

    # validate: false sends it anyway, as a misbehaving model would: the SDK's own validation catches it.
    openai_sandbox.script({"json": {"summary": "x", "clicks": "many", "recommendations": []}, "validate": False})
    with pytest.raises(Exception, match="clicks"):
        openai_sandbox.client.chat.completions.parse(model=OPENAI_MODEL, messages=[{"role": "user", "content": "hi"}],
                                                     response_format=Narrative)


def test_chat_tool_call_round_trip(openai_sandbox) -> None:
    openai_sandbox.script(
        {"tool_calls": [{"name": "QueryMarts", "arguments": {"metric": "ctr", "campaign": "Spring Sale"}}]},
        {"text": "CTR of Spring Sale was 0.42 % last week.", "match": {"after_tool_result": True}},
    )
    messages: list[dict] = [{"role": "user", "content": "What was the CTR of Spring Sale?"}]
    tools = [openai.pydantic_function_tool(QueryMarts)]
    first = openai_sandbox.client.chat.completions.parse(model=OPENAI_MODEL, messages=messages, tools=tools)

    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and message.content is None
    call = message.tool_calls[0]
    assert call.function.name == "QueryMarts" and call.function.parsed_arguments == QueryMarts(metric="ctr", campaign="Spring Sale")
    messages += [message.model_dump(include={"role", "content", "tool_calls"}),
                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"ctr": 0.0042})}]
    second = openai_sandbox.client.chat.completions.parse(model=OPENAI_MODEL, messages=messages, tools=tools)

    assert second.choices[0].message.content == "CTR of Spring Sale was 0.42 % last week."
    sent = openai_sandbox.bodies("chat.completions")[1]["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": call.id, "content": '{"ctr": 0.0042}'}
    assert [request["reply"] for request in openai_sandbox.requests()] == ["script[0]", "script[1]"]


def test_responses_tool_call_round_trip_with_previous_response_id(openai_sandbox) -> None:
    tool = {"type": "function", "name": "query_marts", "strict": True, "description": "Query the marts.",
            "parameters": {"type": "object", "additionalProperties": False, "required": ["metric"],
                           "properties": {"metric": {"type": "string", "enum": ["ctr", "roas"]}}}}
    openai_sandbox.script({"tool_calls": [{"name": "query_marts", "arguments": {"metric": "roas"}}]})
    first = openai_sandbox.client.responses.create(model=OPENAI_MODEL, input="ROAS of Brand Defense?", tools=[tool])
    call = first.output[0]
    assert call.type == "function_call" and json.loads(call.arguments) == {"metric": "roas"}

    second = openai_sandbox.client.responses.create(
        model=OPENAI_MODEL, previous_response_id=first.id, tools=[tool],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"roas": 3.5}'}])
    assert second.output_text == 'The query_marts tool returned: {"roas": 3.5}'

    # Without a stored response the client sends the call back itself; an unknown call id is refused.
    third = openai_sandbox.client.responses.create(model=OPENAI_MODEL, tools=[tool], store=False, input=[
        {"role": "user", "content": "ROAS?"}, call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": '{"roas": 3.5}'}])
    assert third.output_text == second.output_text
    with pytest.raises(openai.BadRequestError, match="No tool call found for function call output with call_id call_x"):
        openai_sandbox.client.responses.create(model=OPENAI_MODEL, tools=[tool], input=[
            {"type": "function_call_output", "call_id": "call_x", "output": "{}"}])


def test_unscripted_tools_answer_in_text_unless_a_tool_is_required(openai_sandbox) -> None:
    tools = [openai.pydantic_function_tool(QueryMarts)]
    messages = [{"role": "user", "content": json.dumps({"metric": "ctr", "campaign": "Spring Sale"})}]
    text = openai_sandbox.client.chat.completions.create(model=OPENAI_MODEL, messages=messages, tools=tools)
    assert text.choices[0].message.tool_calls is None and text.choices[0].message.content.startswith("Sandbox answer:")

    forced = openai_sandbox.client.chat.completions.parse(model=OPENAI_MODEL, messages=messages, tools=tools,
                                                          tool_choice="required")
    assert forced.choices[0].message.tool_calls[0].function.parsed_arguments == QueryMarts(metric="ctr", campaign="Spring Sale")


def test_max_tokens_cuts_the_answer_with_finish_reason_length(openai_sandbox) -> None:
    openai_sandbox.script({"json": {"summary": "a long summary " * 20, "clicks": 1, "recommendations": []}})
    with pytest.raises(openai.LengthFinishReasonError):
        openai_sandbox.client.chat.completions.parse(model=OPENAI_MODEL, messages=[{"role": "user", "content": "hi"}],
                                                     response_format=Narrative, max_completion_tokens=10)
    cut = openai_sandbox.client.responses.create(model=OPENAI_MODEL, input="one two three " * 30, max_output_tokens=16)
    assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens"
    assert cut.usage.output_tokens <= 16


def test_models_are_listed_and_unknown_ones_refused(openai_sandbox) -> None:
    models = [model.id for model in openai_sandbox.client.models.list()]
    assert OPENAI_MODEL in models and openai_sandbox.client.models.retrieve("gpt-4o").id == "gpt-4o"
    openai_sandbox.client.chat.completions.create(model="gpt-4o-mini-2024-07-18", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError) as caught:
        openai_sandbox.client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found" and "The model `gpt-9` does not exist" in caught.value.message
