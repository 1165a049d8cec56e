"""Login with Amazon access tokens: fetched with the refresh token, renewed before they expire.

Thread-safe: one refresh at a time, and a caller that saw a 401 with an old token does not force a
second refresh when another thread already renewed it.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlparse

import httpx

from .errors import AmcAuthError, AmcConfigurationError, error_from_response
from .transport import RetryPolicy, send_with_retries

# Credentials the sandbox accepts when none are configured (it checks them only when told to).
SANDBOX_CLIENT_ID = "amzn1.application-oa2-client.amc-pipelines-sandbox"
SANDBOX_REFRESH_TOKEN = "Atzr|amc-pipelines-sandbox"


def _is_amazon(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return host.startswith("api.amazon.") or ".amazon." in host


class TokenProvider:
    """Hands out a valid access token, refreshing it ``refresh_margin_seconds`` before expiry.

    The margin is capped at half the token's lifetime, so short-lived tokens still get reused.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        token_url: str,
        client_id: str | None,
        client_secret: str | None,
        refresh_token: str | None,
        retry: RetryPolicy,
        refresh_margin_seconds: float = 300.0,
    ) -> None:
        missing = [name for name, value in (("AMC_CLIENT_ID", client_id), ("AMC_CLIENT_SECRET", client_secret),
                                            ("AMC_REFRESH_TOKEN", refresh_token)) if not value]
        if missing and _is_amazon(token_url):
            raise AmcConfigurationError(
                f"{', '.join(missing)} not set: Login with Amazon at {token_url} needs the client id, client "
                "secret and refresh token of your Amazon Ads API application"
            )
        self.client_id = client_id or SANDBOX_CLIENT_ID
        self._form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token or SANDBOX_REFRESH_TOKEN,
            "client_id": self.client_id,
            "client_secret": client_secret or "",
        }
        self._http = http
        self._token_url = token_url
        self._retry = retry
        self._margin = refresh_margin_seconds
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.refreshes = 0  # tokens fetched so far (for tests and diagnostics)

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                self._refresh()
            assert self._token is not None
            return self._token

    def invalidate(self, rejected_token: str) -> None:
        """AMC answered 401 to ``rejected_token``: fetch a new one unless another thread already did."""
        with self._lock:
            if self._token == rejected_token:
                self._token = None

    def _refresh(self) -> None:
        started = time.monotonic()
        response = send_with_retries(
            lambda: self._http.post(self._token_url, data=self._form, headers={"Accept": "application/json"}),
            policy=self._retry,
            operation="Login with Amazon token refresh",
        )
        if response.status_code != 200:
            error = error_from_response(response, "Login with Amazon token refresh")
            raise AmcAuthError(
                f"{error.message} (check AMC_CLIENT_ID, AMC_CLIENT_SECRET and AMC_REFRESH_TOKEN)",
                status=error.status,
                code=error.code,
                operation=error.operation,
            )
        payload = response.json()
        lifetime = float(payload.get("expires_in") or 3600)
        self._token = str(payload["access_token"])
        self._refresh_at = started + lifetime - min(self._margin, lifetime / 2)
        self.refreshes += 1
