"""A ``requests`` adapter for tweepy's session: a timeout always, and an optional base URL.

tweepy hard-codes ``https://api.twitter.com`` and never passes a timeout. Mounted on
``client.session`` for that prefix, :class:`RoutedAdapter` sends each request to the
configured base URL (a proxy, or a fake server in tests) with a default timeout.

Only :func:`dsn_twitter.messenger.make_client` imports this module, so that merely loading
the plugin does not import ``requests``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

#: The hosts tweepy sends to (``api.x.com`` in case a later tweepy switches).
API_HOSTS = ("https://api.twitter.com", "https://api.x.com")


def rewrite(url: str, base_url: str) -> str:
    """``url`` with the scheme and host (and any path prefix) of ``base_url``."""
    if not base_url:
        return url
    base = urlsplit(base_url)
    parts = urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, parts.fragment))


class RoutedAdapter(HTTPAdapter):
    """Sends to ``base_url`` (when given) and applies ``timeout`` when the caller gave none."""

    def __init__(self, base_url: str = "", timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Rewrite the URL, fill in the timeout, send."""
        if self.base_url and request.url:
            request.url = rewrite(request.url, self.base_url)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def mount(session: requests.Session, base_url: str, timeout: float) -> RoutedAdapter:
    """Mount one :class:`RoutedAdapter` on ``session`` for every X API host."""
    adapter = RoutedAdapter(base_url, timeout)
    for host in API_HOSTS:
        session.mount(host, adapter)
    return adapter
