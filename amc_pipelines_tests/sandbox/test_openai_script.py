"""Scripting the OpenAI stand-in, the requests it records, and its errors: keys, bad requests, 429 and 5xx
(scripted and injected) as the real ``openai`` SDK meets them, retries included."""

from __future__ import annotations

import json
import logging

import httpx
import openai
import pytest

from amc_pipelines.sandbox.openai import OpenAIConfig
from amc_pipelines_tests.fixtures.openai import OPENAI_MODEL

USER = [{"role": "user", "content": "hello"}]


def _chat(client, messages=USER, **options):
    return client.chat.completions.create(model=OPENAI_MODEL, messages=messages, **options)


def test_replies_are_taken_in_order_then_the_default_answer(openai_sandbox) -> None:
    assert openai_sandbox.script({"text": "first"}, {"text": "second", "times": 2}, {"refusal": "I can't."}) == 3
    answers = [_chat(openai_sandbox.client).choices[0].message for _ in range(5)]

    assert [m.content for m in answers] == ["first", "second", "second", None, "Sandbox answer: hello"]
    assert answers[3].refusal == "I can't."
    assert [r["reply"] for r in openai_sandbox.requests()] == ["script[0]", "script[1]", "script[1]", "script[2]", "default"]
    assert openai_sandbox.pending() == []


def test_a_predicate_takes_the_first_reply_whose_conditions_hold(openai_sandbox) -> None:
    openai_sandbox.script(
        {"text": "after the tool", "match": {"has_tool_result": True}},
        {"text": "about ROAS", "match": {"contains": "ROAS", "endpoint": "responses"}},
        {"text": "anything else"},
    )
    assert openai_sandbox.client.responses.create(model=OPENAI_MODEL, input="ROAS please").output_text == "about ROAS"
    assert _chat(openai_sandbox.client).choices[0].message.content == "anything else"
    assert [reply["text"] for reply in openai_sandbox.pending()] == ["after the tool"]

    openai_sandbox.script({"text": "appended"}, mode="append")
    assert [reply["text"] for reply in openai_sandbox.pending()] == ["after the tool", "appended"]


def test_requests_are_recorded_as_sent_without_the_key(openai_sandbox) -> None:
    messages = [{"role": "system", "content": "Facts only."}, {"role": "user", "content": '{"campaign": "C1", "clicks": 5}'}]
    _chat(openai_sandbox.client, messages, temperature=0.2)
    (request,) = openai_sandbox.requests()

    assert request["body"] == {"model": OPENAI_MODEL, "messages": messages, "temperature": 0.2}
    assert request["path"] == "/v1/chat/completions" and request["status"] == 200 and request["api_key_sent"] is True
    assert request["headers"]["user-agent"].startswith("OpenAI/Python")
    assert openai_sandbox.api_key not in json.dumps(openai_sandbox.requests())

    openai_sandbox.script({"text": "x"})
    openai_sandbox.reset()
    assert openai_sandbox.requests() == [] and openai_sandbox.pending() == []
    assert _chat(openai_sandbox.client).id == "chatcmpl-sandbox0001"


def test_a_scripted_429_is_retried_by_the_sdk_then_succeeds(openai_sandbox, caplog) -> None:
    openai_sandbox.script({"error": {"status": 429, "retry_after": 0.05}, "times": 2}, {"text": "finally"})
    with caplog.at_level(logging.INFO, logger="openai._base_client"):
        completion = _chat(openai_sandbox.client)  # the fixture's client: max_retries=2

    assert completion.choices[0].message.content == "finally"
    requests = openai_sandbox.requests()
    assert [r["status"] for r in requests] == [429, 429, 200]
    assert [r["headers"]["x-stainless-retry-count"] for r in requests] == ["0", "1", "2"]
    # The SDK waited what retry-after-ms said, not its own backoff (0.5 s, then 1 s).
    waits = [m for m in caplog.messages if m.startswith("Retrying request in")]
    assert waits == ["Retrying request in 0.050000 seconds (retry 1 of 2)",
                     "Retrying request in 0.050000 seconds (retry 2 of 2)"]


def test_a_429_carries_openais_body_and_retry_headers(openai_sandbox) -> None:
    openai_sandbox.script({"error": {"status": 429}})
    with pytest.raises(openai.RateLimitError) as caught:
        _chat(openai_sandbox.new_client(max_retries=0))
    error = caught.value
    assert error.code == "rate_limit_exceeded" and error.type == "requests"
    assert error.body["message"].startswith(f"Rate limit reached for {OPENAI_MODEL} in organization")
    assert error.response.headers["retry-after-ms"] == "10" and error.response.headers["retry-after"] == "1"

    openai_sandbox.script({"error": {"status": 429, "code": "insufficient_quota", "type": "insufficient_quota",
                                     "message": "You exceeded your current quota."}})
    with pytest.raises(openai.RateLimitError) as caught:
        _chat(openai_sandbox.new_client(max_retries=0))
    assert caught.value.code == "insufficient_quota"


def test_server_errors_scripted_and_injected(openai_sandbox) -> None:
    openai_sandbox.script({"error": {"status": 500}})
    with pytest.raises(openai.InternalServerError) as caught:
        _chat(openai_sandbox.new_client(max_retries=0))
    assert caught.value.status_code == 500 and caught.value.type == "server_error"
    assert caught.value.body["message"] == "The server had an error while processing your request. Sorry about that!"

    described = openai_sandbox.faults("5xx=1", limit=1, endpoints=["chat.completions"])
    assert described["faults"] == "5xx=1" and described["remaining"] == 1
    assert openai_sandbox.client.models.list().data  # other endpoints untouched
    assert _chat(openai_sandbox.new_client(max_retries=1)).choices[0].message.content == "Sandbox answer: hello"
    statuses = [(r["endpoint"], r["status"], r["reply"]) for r in openai_sandbox.requests()[1:]]
    assert statuses[0] == ("models", 200, None)
    assert statuses[1][1] in (500, 503) and statuses[1][2] == "fault:5xx" and statuses[2] == ("chat.completions", 200, "default")


def test_injected_429s_from_the_configuration(make_openai) -> None:
    sandbox = make_openai(faults="429=1")
    with pytest.raises(openai.RateLimitError):
        _chat(sandbox.client)
    assert [r["reply"] for r in sandbox.requests()] == ["fault:429"] * 3  # the first try and max_retries=2
    assert sandbox.control("faults")["injected"] == {"rate_limited": 3}


def test_a_required_key_is_checked(make_openai) -> None:
    sandbox = make_openai(api_key="sk-proj-required-key-0000")
    assert _chat(sandbox.client).choices[0].message.content

    with pytest.raises(openai.AuthenticationError) as caught:
        _chat(sandbox.new_client(api_key="sk-proj-wrong-key-123456789"))
    assert caught.value.code == "invalid_api_key" and caught.value.status_code == 401
    assert "sk-********6789" in caught.value.message and "wrong-key" not in caught.value.message

    missing = httpx.post(f"{sandbox.base_url}/chat/completions", json={"model": OPENAI_MODEL, "messages": USER})
    assert missing.status_code == 401
    assert missing.json()["error"]["message"].startswith("You didn't provide an API key.")
    assert [r["status"] for r in sandbox.requests()] == [200, 401, 401]
    assert "sk-proj-wrong-key-123456789" not in json.dumps(sandbox.requests())


def test_the_default_stand_in_takes_any_key() -> None:
    assert OpenAIConfig().api_key is None and "api_key" not in repr(OpenAIConfig(api_key="sk-secret"))


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize(("body", "param", "message"), [
    ({"messages": USER}, "model", "you must provide a model parameter"),
    ({"model": OPENAI_MODEL}, "messages", "Missing required parameter: 'messages'."),
    ({"model": OPENAI_MODEL, "messages": []}, "messages", "Invalid 'messages': empty array."),
    ({"model": OPENAI_MODEL, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "Invalid value: 'robot'."),
    ({"model": OPENAI_MODEL, "messages": [*USER, {"role": "tool", "tool_call_id": "call_1", "content": "x"}]},
     "messages.[1].role", "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'"),
    ({"model": OPENAI_MODEL, "messages": [*USER, {"role": "assistant", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]},
     "messages.[1].role", "did not have response messages: call_1"),
    ({"model": OPENAI_MODEL, "messages": USER, "temperature": 3}, "temperature", "Invalid 'temperature': decimal above maximum value."),
    ({"model": OPENAI_MODEL, "messages": USER, "response_format": {"type": "json_object"}}, "messages",
     "'messages' must contain the word 'json'"),
    ({"model": OPENAI_MODEL, "messages": USER, "response_format": {"type": "json_schema", "json_schema": {
        "name": "A", "strict": True, "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}},
     "response_format", "Invalid schema for response_format 'A': In context=(), 'additionalProperties' is required"),
    ({"model": OPENAI_MODEL, "messages": USER, "response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
     "response_format.json_schema.name", "Missing required parameter: 'response_format.json_schema.name'."),
    ({"model": OPENAI_MODEL, "messages": USER, "tools": [{"type": "function", "function": {"name": "bad name"}}]},
     "tools[0].function.name", "Invalid 'tools[0].function.name': string does not match pattern."),
    ({"model": OPENAI_MODEL, "messages": USER, "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "g"}}},
     "tool_choice", "Tool choice 'g' not found in 'tools' parameter."),
    ({"model": OPENAI_MODEL, "messages": USER, "stream": True}, "stream", "does not stream"),
])
def test_bad_chat_requests_name_the_parameter(openai_sandbox, body, param, message) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sandbox.client.post("/chat/completions", body=body, cast_to=dict)
    assert caught.value.param == param and caught.value.type == "invalid_request_error"
    assert message in caught.value.message


@pytest.mark.parametrize(("body", "param", "message"), [
    ({"model": OPENAI_MODEL}, "input", "Missing required parameter: 'input'."),
    ({"model": OPENAI_MODEL, "input": "x", "previous_response_id": "resp_gone"}, "previous_response_id",
     "Previous response with id 'resp_gone' not found."),
    ({"model": OPENAI_MODEL, "input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name",
     "Missing required parameter: 'text.format.name'."),
    ({"model": OPENAI_MODEL, "input": "x", "max_output_tokens": 5}, "max_output_tokens", "Expected a value >= 16"),
    ({"model": OPENAI_MODEL, "input": [{"type": "image_generation_call"}]}, "input[0].type", "Invalid value: 'image_generation_call'."),
])
def test_bad_responses_requests_name_the_parameter(openai_sandbox, body, param, message) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sandbox.client.post("/responses", body=body, cast_to=dict)
    assert caught.value.param == param and message in caught.value.message


def test_unparseable_bodies_unknown_paths_and_bad_scripts(openai_sandbox) -> None:
    raw = httpx.post(f"{openai_sandbox.base_url}/chat/completions", content=b"{not json",
                     headers={"content-type": "application/json"})
    assert raw.status_code == 400 and "We could not parse the JSON body" in raw.json()["error"]["message"]
    unknown = httpx.get(f"{openai_sandbox.base_url}/assistants")
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == "Invalid URL (GET /v1/assistants)"

    bad = httpx.post(f"{openai_sandbox.server.url}/_sandbox/openai/script", json={"replies": [{"text": "a", "json": {}}]})
    assert bad.status_code == 400 and "exactly one of json, text, tool_calls" in bad.json()["error"]["message"]
    openai_sandbox.script({"tool_calls": [{"name": "not_offered"}]})
    with pytest.raises(openai.InternalServerError, match="calls tool 'not_offered' but the request offers none"):
        _chat(openai_sandbox.client)
