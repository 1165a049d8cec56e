"""Login with Amazon token endpoint and the header checks every AMC call goes through."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse

from .config import SandboxConfig
from .responses import ApiError

CLIENT_ID_HEADER = "Amazon-Advertising-API-ClientId"
ADVERTISER_HEADER = "Amazon-Advertising-API-AdvertiserId"
MARKETPLACE_HEADER = "Amazon-Advertising-API-MarketplaceId"


@dataclass(frozen=True)
class IssuedToken:
    client_id: str
    expires_at: float  # time.monotonic()


class TokenIssuer:
    """Issues bearer tokens and checks them; checks credentials only when the config names them."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._tokens: dict[str, IssuedToken] = {}
        self._lock = threading.Lock()

    def issue(self, client_id: str) -> tuple[str, int]:
        token = "Atza|" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = IssuedToken(client_id, time.monotonic() + self.config.token_ttl_seconds)
        return token, int(round(self.config.token_ttl_seconds))

    def holder(self, token: str) -> IssuedToken | None:
        """The token's record if it is known and unexpired."""
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None or issued.expires_at <= time.monotonic():
            return None
        return issued

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()


def _lwa_error(status: int, error: str, description: str) -> JSONResponse:
    # LwA's error shape (OAuth 2.0), not the Ads API's {"code","details"}.
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _same(expected: str | None, given: str) -> bool:
    return expected is None or hmac.compare_digest(expected.encode(), given.encode())


async def token_endpoint(request: Request) -> JSONResponse:
    """``POST /auth/o2/token`` with form fields grant_type=refresh_token, refresh_token, client_id, client_secret."""
    issuer: TokenIssuer = request.app.state.sandbox.tokens
    # LwA takes application/x-www-form-urlencoded (parsed here: no multipart dependency needed).
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)
    fields = {name: form.get(name, [""])[0] for name in ("grant_type", "refresh_token", "client_id", "client_secret")}
    if fields["grant_type"] != "refresh_token":
        if not fields["grant_type"]:
            return _lwa_error(400, "invalid_request", "The request is missing a required parameter : grant_type")
        return _lwa_error(400, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server")
    for name in ("refresh_token", "client_id"):
        if not fields[name]:
            return _lwa_error(400, "invalid_request", f"The request is missing a required parameter : {name}")
    config = issuer.config
    if not (_same(config.client_id, fields["client_id"]) and _same(config.client_secret, fields["client_secret"])):
        return _lwa_error(401, "invalid_client", "Client authentication failed")
    if not _same(config.refresh_token, fields["refresh_token"]):
        return _lwa_error(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
    token, expires_in = issuer.issue(fields["client_id"])
    return JSONResponse(
        {
            "access_token": token,
            "refresh_token": fields["refresh_token"],
            "token_type": "bearer",
            "expires_in": expires_in,
        }
    )


def require_token(request: Request) -> IssuedToken:
    """The caller's valid token, or 401; the client-id header must name the token's client."""
    issuer: TokenIssuer = request.app.state.sandbox.tokens
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Missing or malformed Authorization header; send 'Authorization: Bearer <access token>'.", "UNAUTHORIZED")
    issued = issuer.holder(token.strip())
    if issued is None:
        raise ApiError(401, "The access token is invalid or has expired; refresh it with Login with Amazon.", "UNAUTHORIZED")
    client_id = request.headers.get(CLIENT_ID_HEADER)
    if not client_id:
        raise ApiError(400, f"Missing required header {CLIENT_ID_HEADER}.", "400")
    if client_id != issued.client_id:
        raise ApiError(401, f"{CLIENT_ID_HEADER} does not match the client the access token was issued to.", "UNAUTHORIZED")
    return issued


def required_header(request: Request, name: str) -> str:
    value = request.headers.get(name, "").strip()
    if not value:
        raise ApiError(400, f"Missing required header {name}.")
    return value
