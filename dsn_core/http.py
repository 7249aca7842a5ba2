"""Helpers for channels that talk to an HTTP API through a provider's SDK (built on ``requests`` or ``httpx``).

Three things every such channel needs, in one place:

* **Routing and a timeout.** SDKs often hard-code the provider's host and pass no timeout.
  :func:`route_requests` mounts an adapter on the SDK's ``requests.Session`` that sends every
  request to ``base_url`` instead (a proxy, or a fake server on 127.0.0.1 in tests), applies a
  timeout when the SDK gives none, and keeps the last answer's headers (for ``Retry-After``).
  ``httpx`` clients take ``base_url=`` and ``timeout=`` themselves and need no adapter.
* **HTTP statuses as DSN errors.** :func:`error_for_status`: 429 is transient and honours
  ``Retry-After`` (seconds or an HTTP date); 5xx, 408, 409 and 425 are transient; 401 and 403 are
  configuration errors (wrong credentials or app permissions); any other 4xx is permanent.
* **Library exceptions as DSN errors.** :func:`error_for_exception` maps ``requests`` and ``httpx``
  timeouts, refused connections and status errors, with secrets masked in the text.

A channel maps what its provider says more precisely first (an error code meaning "opted out",
a 403 meaning "duplicate post"), then falls back on these. Nothing here imports ``requests`` or
``httpx`` until it is called with one of their objects, so web processes stay light.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigurationError, DeliveryError, PermanentError, TransientError
from .redaction import redact_error

if TYPE_CHECKING:
    import requests

__all__ = [
    "DEFAULT_TIMEOUT",
    "error_for_exception",
    "error_for_status",
    "parse_retry_after",
    "rebase_url",
    "retry_after_from",
    "route_requests",
]

#: Seconds a request may take when the channel's settings give no timeout.
DEFAULT_TIMEOUT = 10.0
#: Statuses worth retrying besides 429 and 5xx: request timeout, conflict, too early.
RETRYABLE_4XX = frozenset({408, 409, 425})


def rebase_url(url: str, base_url: str) -> str:
    """``url`` with the scheme and host of ``base_url``, and its path under ``base_url``'s path.

    ``rebase_url("https://api.example.com/v1/send?x=1", "http://127.0.0.1:8600/proxy")`` is
    ``"http://127.0.0.1:8600/proxy/v1/send?x=1"``. An empty ``base_url`` leaves ``url`` alone.
    """
    if not base_url:
        return url
    base = urlsplit(base_url)
    parts = urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, parts.fragment))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date; ``None`` if absent or invalid."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def retry_after_from(headers: Mapping[str, str] | None) -> float | None:
    """:func:`parse_retry_after` of the ``Retry-After`` header in ``headers`` (any letter case)."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            return parse_retry_after(value)
    return None


def error_for_status(
    status: int, detail: str = "", *, provider: str, headers: Mapping[str, str] | None = None
) -> DeliveryError | None:
    """The DSN error for an HTTP answer with ``status`` (``None`` for 1xx-3xx).

    The text is ``"<provider> HTTP <status>: <detail>"``; pass a ``detail`` free of secrets (or
    mask it with :func:`dsn_core.redaction.redact_error` afterwards).
    """
    if status < 400:
        return None
    message = f"{provider} HTTP {status}: {detail}".rstrip(": ").strip()
    if status == 429:
        return TransientError(message, retry_after=retry_after_from(headers))
    if status >= 500 or status in RETRYABLE_4XX:
        return TransientError(message, retry_after=retry_after_from(headers))
    if status in (401, 403):
        return ConfigurationError(f"{message} (check the credentials in the settings)")
    return PermanentError(message)


def error_for_exception(exc: BaseException, *, provider: str, secrets: Iterable[str] = ()) -> DeliveryError | None:
    """The DSN error for a ``requests`` or ``httpx`` exception; ``None`` for any other exception.

    Timeouts and connection failures are transient and name only the exception's type (their
    text can hold a URL, and some APIs put a token in the URL). A status error (``raise_for_status``)
    goes through :func:`error_for_status`. Configured secrets and ``secrets`` are masked.
    """
    error = _from_requests(exc, provider) or _from_httpx(exc, provider)
    return None if error is None else redact_error(error, secrets)


def _from_requests(exc: BaseException, provider: str) -> DeliveryError | None:
    if "requests" not in sys.modules:  # an exception of requests means requests is loaded
        return None
    import requests

    if not isinstance(exc, requests.RequestException):
        return None
    name = type(exc).__name__
    if isinstance(exc, requests.Timeout):
        return TransientError(f"{provider} did not answer in time ({name})")
    if isinstance(exc, requests.ConnectionError):
        return TransientError(f"cannot connect to {provider} ({name})")
    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None:
        return error_for_status(
            response.status_code, str(response.reason or ""), provider=provider, headers=response.headers
        )
    return TransientError(f"HTTP error talking to {provider} ({name})")


def _from_httpx(exc: BaseException, provider: str) -> DeliveryError | None:
    if "httpx" not in sys.modules:
        return None
    import httpx

    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"{provider} did not answer in time ({name})")
    if isinstance(exc, (httpx.ConnectError, httpx.NetworkError, httpx.RemoteProtocolError)):
        return TransientError(f"cannot connect to {provider} ({name})")
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        return error_for_status(
            response.status_code, response.reason_phrase, provider=provider, headers=response.headers
        )
    if isinstance(exc, httpx.HTTPError):
        return TransientError(f"HTTP error talking to {provider} ({name})")
    return None


@cache
def _adapter_class() -> type:
    from requests import PreparedRequest, Response
    from requests.adapters import HTTPAdapter

    class RoutedAdapter(HTTPAdapter):
        """Sends to ``base_url`` (when set), applies ``timeout`` when the caller gave none, keeps the last headers."""

        def __init__(self, base_url: str = "", timeout: float = DEFAULT_TIMEOUT, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.base_url = base_url.rstrip("/")
            self.timeout = timeout
            #: Headers of the last answer (empty before the first, and after a failed request).
            self.last_headers: Mapping[str, str] = {}

        def send(
            self,
            request: PreparedRequest,
            stream: bool = False,
            timeout: Any = None,
            verify: bool | str = True,
            cert: Any = None,
            proxies: Mapping[str, str] | None = None,
        ) -> Response:
            if self.base_url and request.url:
                request.url = rebase_url(request.url, self.base_url)
            if timeout is None:
                timeout = self.timeout
            self.last_headers = {}
            response = super().send(
                request,
                stream=stream,
                timeout=timeout,
                verify=verify,
                cert=cert,
                proxies=dict(proxies) if proxies is not None else None,
            )
            self.last_headers = dict(response.headers or {})
            return response

    return RoutedAdapter


def route_requests(
    session: requests.Session,
    base_url: str = "",
    *,
    timeout: float = DEFAULT_TIMEOUT,
    prefixes: Iterable[str] = ("https://", "http://"),
) -> Any:
    """Mount one routing adapter on ``session`` for every URL prefix in ``prefixes``; return it.

    Every request the session sends then goes to ``base_url`` (if given) with ``timeout``
    seconds unless the SDK passes its own timeout. The returned adapter's ``last_headers``
    holds the headers of the latest answer: SDK exceptions often lack them, and a 429's
    ``Retry-After`` is there. Give the prefixes of the provider's hosts (``"https://api.x.com"``)
    when the session also talks to other hosts that must not be rerouted.
    """
    adapter = _adapter_class()(base_url, timeout)
    for prefix in prefixes:
        session.mount(prefix, adapter)
    return adapter
