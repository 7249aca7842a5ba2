"""The HTTP client handed to twilio: a timeout always, and an optional base URL.

twilio's default client has no timeout, and its ``edge``/``region`` settings cannot point
it at a proxy or a local fake server. :class:`RoutedHttpClient` rewrites the scheme and
host of every request (it keeps working with ``TWILIO_REGION`` set) and remembers the
last response's headers, so a 429 answer's ``Retry-After`` can be honoured.

This module imports twilio at load time, so the messenger imports it only when it opens a
connection to send: web processes, which never send, do not load the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response


def rewrite(url: str, base_url: str) -> str:
    """``url`` with the scheme and host (and any path prefix) of ``base_url``."""
    if not base_url:
        return url
    base = urlsplit(base_url)
    parts = urlsplit(url)
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


class RoutedHttpClient(TwilioHttpClient):
    """A ``TwilioHttpClient`` that sends to ``base_url`` (if given) with a default timeout."""

    def __init__(self, base_url: str = "", timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(timeout=timeout, **kwargs)
        self.base_url = base_url.rstrip("/")
        #: Headers of the last response (empty before the first request).
        self.last_headers: Mapping[str, str] = {}

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        """Send the request to the rewritten URL; keep the response headers."""
        self.last_headers = {}
        response = super().request(method, rewrite(url, self.base_url), *args, **kwargs)
        self.last_headers = dict(response.headers or {})
        return response

    def close(self) -> None:
        """Close the pooled connections."""
        if self.session is not None:
            self.session.close()
