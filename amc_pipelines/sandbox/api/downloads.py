"""Result downloads: ``.../downloadUrls`` hands out pre-signed URLs to this server's S3-like route.

A URL carries ``X-Amz-Date``, ``X-Amz-Expires`` and an HMAC-SHA256 ``X-Amz-Signature`` over the
path and both values. Like S3, an expired URL answers 403 ``AccessDenied`` / "Request has expired"
and a tampered one 403 ``SignatureDoesNotMatch``, both as XML. The "expire" fault issues URLs that
are already expired; the "truncate" fault declares the full Content-Length and sends half the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from .faults import SERVER_SEND, abort_connection
from .responses import json_answer, utc_now

DOWNLOAD_PREFIX = "/s3/amc-results"
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def sign(key: bytes, path: str, amz_date: str, expires: int) -> str:
    return hmac.new(key, f"{path}\n{amz_date}\n{expires}".encode(), hashlib.sha256).hexdigest()


def presign(request: Request, path: str, *, expired: bool = False) -> str:
    sandbox = request.app.state.sandbox
    ttl = max(1, round(sandbox.config.download_url_ttl_seconds))
    issued = utc_now() - (timedelta(seconds=ttl + 1) if expired else timedelta())
    amz_date = issued.strftime(_DATE_FORMAT)
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(ttl),
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": sign(sandbox.config.signing_key, path, amz_date, ttl),
    }
    return f"{str(request.base_url).rstrip('/')}{path}?{urlencode(query)}"


async def download_urls(request: Request, instance_id: str) -> Response:
    """``GET .../workflowExecutions/{id}/downloadUrls`` -> ``{downloadUrls, metadataDownloadUrls}``."""
    sandbox = request.app.state.sandbox
    execution_id = request.path_params["executionId"]
    files, metadata = sandbox.executions.output(instance_id, execution_id)

    def url(file: Path, folder: str) -> str:
        expired = sandbox.faults.draw_expired()
        return presign(request, f"{DOWNLOAD_PREFIX}/{quote(instance_id)}/{quote(execution_id)}/{folder}{quote(file.name)}", expired=expired)

    return json_answer(
        request,
        {
            "downloadUrls": [url(f, "") for f in files],
            "metadataDownloadUrls": [url(f, "metadata/") for f in metadata],
        },
    )


def _s3_error(code: str, message: str, status: int = 403, **extra: str) -> Response:
    details = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>{details}"
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


def _check_signature(request: Request) -> Response | None:
    """None when the URL is validly signed and unexpired, else S3's 403 answer."""
    params = request.query_params
    amz_date, expires_text, signature = params.get("X-Amz-Date"), params.get("X-Amz-Expires"), params.get("X-Amz-Signature")
    if not (amz_date and expires_text and signature):
        return _s3_error("AccessDenied", "Access Denied")
    try:
        expires = int(expires_text)
        issued = datetime.strptime(amz_date, _DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return _s3_error("AuthorizationQueryParametersError", "X-Amz-Date or X-Amz-Expires is malformed.", status=400)
    key = request.app.state.sandbox.config.signing_key
    if not hmac.compare_digest(sign(key, request.url.path, amz_date, expires), signature):
        return _s3_error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    expiry = issued + timedelta(seconds=expires)
    now = utc_now()
    if now > expiry:
        return _s3_error(
            "AccessDenied",
            "Request has expired",
            **{
                "X-Amz-Expires": str(expires),
                "Expires": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
    return None


async def download_file(request: Request) -> Response:
    """``GET /s3/amc-results/{instanceId}/{executionId}/[metadata/]{file}`` with a signed query."""
    sandbox = request.app.state.sandbox
    sandbox.stats.call("downloadResultFile")
    denied = _check_signature(request)
    if denied is not None:
        return denied
    instance_id, execution_id = request.path_params["instanceId"], request.path_params["executionId"]
    name = request.path_params["fileName"]
    try:
        files, metadata = sandbox.executions.output(instance_id, execution_id)
    except Exception:
        return _s3_error("NoSuchKey", "The specified key does not exist.", status=404)
    wanted = {f"metadata/{f.name}": f for f in metadata} | {f.name: f for f in files}
    path = wanted.get(name)
    if path is None or not path.exists():
        return _s3_error("NoSuchKey", "The specified key does not exist.", status=404)
    media_type = "application/json" if path.suffix == ".json" else "text/csv"
    if sandbox.faults.draw_truncated():
        return TruncatedFileResponse(path, media_type)
    return FileResponse(path, media_type=media_type)


class TruncatedFileResponse(Response):
    """Declares the file's full Content-Length, sends only its first half, then closes the socket.

    The client sees fewer bytes than Content-Length (httpx raises RemoteProtocolError).
    """

    def __init__(self, path: Path, media_type: str) -> None:
        self.path = path
        self.full = path.read_bytes()
        super().__init__(content=b"", media_type=media_type)
        self.headers["content-length"] = str(len(self.full))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.full[: max(1, len(self.full) // 2)], "more_body": True})
        # Let the partial body reach the socket before cutting the connection.
        await asyncio.sleep(0.05)
        if not abort_connection(scope.get(SERVER_SEND)):
            # No transport to cut (not under uvicorn): ending short of Content-Length also breaks the message.
            await send({"type": "http.response.body", "body": b"", "more_body": False})
