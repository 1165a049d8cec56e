"""The OpenAI API that the ``openai`` SDK calls, served under ``/v1``.

``POST /v1/chat/completions``, ``POST /v1/responses``, ``GET /v1/responses/{id}``, ``GET /v1/models``
and ``GET /v1/models/{model}``. Each call, in OpenAI's order: the key (when one is required), the
injected faults, the request's checks, then the answer: the first scripted reply that matches, else
the default answer. Every call is logged (body as received, status, which reply) for
``GET /_sandbox/openai/requests``; the key itself never is.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .answers import answer, chat_body, responses_body
from .errors import OpenAIError, invalid, invalid_key, missing_key, rate_limited, server_error
from .prompts import CHAT, RESPONSES, chat_prompt, parse_body, responses_prompt
from .script import LOGGED_HEADERS
from .service import OpenAIStandIn

API_PREFIX = "/v1"
MODELS_CREATED = 1_700_000_000  # a fixed "created" for the listed models

Handler = Callable[[Request, OpenAIStandIn, dict[str, Any]], Awaitable[Response]]


def _check_key(request: Request, stand_in: OpenAIStandIn) -> None:
    required = stand_in.config.api_key
    if required is None:
        return
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise missing_key()
    if not hmac.compare_digest(key.strip().encode(), required.encode()):
        raise invalid_key(key.strip())


def _body_for_log(raw: bytes) -> Any:
    try:
        return parse_body(raw)
    except OpenAIError:
        return raw.decode("utf-8", "replace")


def endpoint(operation: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        stand_in: OpenAIStandIn = request.app.state.openai
        raw = await request.body() if request.method == "POST" else b""
        entry: dict[str, Any] = {
            "endpoint": operation,
            "method": request.method,
            "path": request.url.path,
            "headers": {name: request.headers[name] for name in LOGGED_HEADERS if name in request.headers},
            "api_key_sent": bool(request.headers.get("authorization", "").partition(" ")[2].strip()),
            "body": _body_for_log(raw) if raw else None,
            "reply": None,
        }
        try:
            _check_key(request, stand_in)
            fault = stand_in.faults.draw(operation)
            if fault == "slow":
                await asyncio.sleep(stand_in.config.slow_fault_seconds)
            elif fault == "rate_limited":
                entry["reply"] = "fault:429"
                model = entry["body"].get("model") if isinstance(entry["body"], dict) else None
                raise rate_limited(model, stand_in.config.retry_after_seconds)
            elif fault == "server_error":
                entry["reply"] = "fault:5xx"
                raise server_error(stand_in.faults.server_status())
            response = await handler(request, stand_in, {"raw": raw, "entry": entry})
        except OpenAIError as error:
            response = error.response()
        entry["status"] = response.status_code
        stand_in.requests.add(entry)
        response.headers["x-request-id"] = f"req_sandbox{entry['seq']:06d}"
        response.headers["openai-processing-ms"] = "1"
        return response

    return serve


def _known_model(stand_in: OpenAIStandIn, model: str) -> None:
    if not stand_in.config.knows_model(model):
        raise OpenAIError(404, f"The model `{model}` does not exist or you do not have access to it.",
                          param="model", code="model_not_found")


async def chat_completions(request: Request, stand_in: OpenAIStandIn, state: dict[str, Any]) -> Response:
    body = parse_body(state["raw"])
    prompt = chat_prompt(body)
    _known_model(stand_in, prompt.model)
    scripted = stand_in.script.take(prompt)
    state["entry"]["reply"] = f"script[{scripted[0]}]" if scripted else "default"
    result = answer(prompt, scripted, stand_in.ids, stand_in.config.retry_after_seconds)
    return JSONResponse(chat_body(prompt, result, stand_in.ids))


async def responses(request: Request, stand_in: OpenAIStandIn, state: dict[str, Any]) -> Response:
    body = parse_body(state["raw"])
    previous_id = body.get("previous_response_id")
    previous = None
    if previous_id is not None:
        stored = stand_in.stored_response(str(previous_id))
        if stored is None:
            raise invalid(f"Previous response with id '{previous_id}' not found.", "previous_response_id",
                          "previous_response_not_found")
        previous = stored["context"]
    prompt = responses_prompt(body, previous)
    _known_model(stand_in, prompt.model)
    scripted = stand_in.script.take(prompt)
    state["entry"]["reply"] = f"script[{scripted[0]}]" if scripted else "default"
    result = answer(prompt, scripted, stand_in.ids, stand_in.config.retry_after_seconds)
    rendered = responses_body(prompt, body, result, stand_in.ids)
    if body.get("store", True) is not False:
        stand_in.store_response(rendered["id"], prompt.context, rendered)
    return JSONResponse(rendered)


async def get_response(request: Request, stand_in: OpenAIStandIn, state: dict[str, Any]) -> Response:
    response_id = request.path_params["response_id"]
    stored = stand_in.stored_response(response_id)
    if stored is None:
        raise OpenAIError(404, f"Response with id '{response_id}' not found.", param="response_id")
    return JSONResponse(stored["body"])


def _model(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": MODELS_CREATED, "owned_by": "system"}


async def list_models(request: Request, stand_in: OpenAIStandIn, state: dict[str, Any]) -> Response:
    return JSONResponse({"object": "list", "data": [_model(model) for model in stand_in.config.models]})


async def get_model(request: Request, stand_in: OpenAIStandIn, state: dict[str, Any]) -> Response:
    model = request.path_params["model"]
    _known_model(stand_in, model)
    return JSONResponse(_model(model))


async def _no_route(request: Request, exc: Exception) -> Response:
    return OpenAIError(404, f"Invalid URL ({request.method} {request.url.path})").response()


async def _internal(request: Request, exc: Exception) -> Response:
    return server_error(500).response()


def api_app(stand_in: OpenAIStandIn) -> Starlette:
    routes = [
        Route("/chat/completions", endpoint(CHAT, chat_completions), methods=["POST"]),
        Route("/responses", endpoint(RESPONSES, responses), methods=["POST"]),
        Route("/responses/{response_id}", endpoint("responses.retrieve", get_response), methods=["GET"]),
        Route("/models", endpoint("models", list_models), methods=["GET"]),
        Route("/models/{model:path}", endpoint("models.retrieve", get_model), methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _no_route, 405: _no_route, Exception: _internal})
    app.state.openai = stand_in
    return app


__all__ = ["API_PREFIX", "api_app"]
