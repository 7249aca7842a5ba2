"""The twilio REST client, on one HTTP session routed by :func:`dsn_core.http.route_requests`.

twilio's default HTTP client has no timeout, and its ``edge``/``region`` settings cannot point
it at a proxy or a local fake server. The core's routing adapter, mounted on the client's
``requests`` session, sends every request to ``API_BASE_URL`` (it keeps working with
``TWILIO_REGION`` set), applies ``TIMEOUT``, and keeps the last answer's headers, so that a
429's ``Retry-After`` can be honoured (twilio's exceptions do not carry headers).

The messenger imports this module only when it opens a connection to send: web processes,
which never send, do not load the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from dsn_core.api import route_requests

from .config import SmsConfig


@dataclass
class Connection:
    """A twilio ``Client`` and the routed HTTP session it sends through (one per batch)."""

    client: Client
    http: TwilioHttpClient
    adapter: Any

    @property
    def last_headers(self) -> Mapping[str, str]:
        """Headers of the latest answer from Twilio (empty before the first)."""
        return self.adapter.last_headers

    def close(self) -> None:
        """Close the pooled connections."""
        if self.http.session is not None:
            self.http.session.close()


def connect(cfg: SmsConfig) -> Connection:
    """A twilio client for ``cfg``: routed to ``API_BASE_URL`` when set, with ``TIMEOUT``."""
    http = TwilioHttpClient(timeout=cfg.timeout)
    assert http.session is not None  # pool_connections=True (the default) gives it one
    adapter = route_requests(http.session, cfg.api_base_url, timeout=cfg.timeout, prefixes=("https://",))
    return Connection(Client(cfg.account_sid, cfg.auth_token, http_client=http), http, adapter)
