"""``/_sandbox/openai/*``: how tests script the stand-in and read what it was sent.

- ``POST script`` ``{"replies": [...], "mode": "replace" | "append"}`` (see :mod:`.script` for a
  reply's fields); ``GET script``: the replies not used up yet;
- ``GET requests``: every ``/v1`` request received, oldest first (``?endpoint=responses`` filters);
- ``POST faults`` ``{"faults": "429=1", "endpoints": ["chat.completions"], "limit": 2, "seed": 7}``;
- ``POST reset``: script, requests, stored responses, ids and faults back to the start.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from amc_pipelines.sandbox.api.config import ConfigError

from .config import OpenAIFaultRates
from .errors import OpenAIError
from .script import ScriptBody
from .service import OpenAIStandIn

CONTROL_PREFIX = "/_sandbox/openai"


class FaultsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    faults: str = ""
    endpoints: list[str] | None = None
    limit: int | None = Field(default=None, ge=0)
    seed: int = 7


def _stand_in(request: Request) -> OpenAIStandIn:
    return request.app.state.openai


async def _parse(request: Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as error:
        raise OpenAIError(400, f"{request.url.path}: {error}", param=None) from None


async def post_script(request: Request) -> Response:
    body: ScriptBody = await _parse(request, ScriptBody)
    queued = _stand_in(request).script.load(body.replies, append=body.mode == "append")
    return JSONResponse({"queued": queued})


async def get_script(request: Request) -> Response:
    return JSONResponse({"replies": _stand_in(request).script.pending()})


async def get_requests(request: Request) -> Response:
    entries = _stand_in(request).requests.entries()
    wanted = request.query_params.get("endpoint")
    if wanted:
        entries = [entry for entry in entries if entry["endpoint"] == wanted]
    return JSONResponse({"requests": entries})


async def post_faults(request: Request) -> Response:
    body: FaultsBody = await _parse(request, FaultsBody)
    try:
        rates = OpenAIFaultRates.parse(body.faults)
    except ConfigError as error:
        raise OpenAIError(400, str(error), param="faults") from None
    faults = _stand_in(request).faults
    faults.configure(rates, seed=body.seed, endpoints=frozenset(body.endpoints) if body.endpoints else None,
                     limit=body.limit)
    return JSONResponse(faults.describe())


async def get_faults(request: Request) -> Response:
    return JSONResponse(_stand_in(request).faults.describe())


async def post_reset(request: Request) -> Response:
    _stand_in(request).reset()
    return JSONResponse({"reset": True})


def _answering(handler: Any) -> Any:
    async def serve(request: Request) -> Response:
        try:
            return await handler(request)
        except OpenAIError as error:
            return error.response()

    return serve


def control_app(stand_in: OpenAIStandIn) -> Starlette:
    routes = [
        Route("/script", _answering(post_script), methods=["POST"]),
        Route("/script", _answering(get_script), methods=["GET"]),
        Route("/requests", _answering(get_requests), methods=["GET"]),
        Route("/faults", _answering(post_faults), methods=["POST"]),
        Route("/faults", _answering(get_faults), methods=["GET"]),
        Route("/reset", _answering(post_reset), methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.openai = stand_in
    return app
