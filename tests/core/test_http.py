"""dsn_core.http: routing an SDK's session to a fake server, and HTTP failures as DSN errors.

Real ``requests`` and ``httpx`` clients talk to :class:`tests.fakes.FakeServer` on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
import requests

from dsn_core.errors import ConfigurationError, PermanentError, TransientError
from dsn_core.http import (
    error_for_exception,
    error_for_status,
    parse_retry_after,
    rebase_url,
    retry_after_from,
    route_requests,
)
from tests.fakes import FakeServer, Request, Response, free_port

SECRET = "sk-live-4f9a8b7c6d5e"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("https://api.example.com/v1/send?x=1", "http://127.0.0.1:8600", "http://127.0.0.1:8600/v1/send?x=1"),
        ("https://api.example.com/v1/send", "http://127.0.0.1:8600/proxy/", "http://127.0.0.1:8600/proxy/v1/send"),
        ("https://api.example.com/v1/send", "", "https://api.example.com/v1/send"),
    ],
)
def test_rebase_url_moves_scheme_host_and_prefixes_the_path(url: str, base: str, expected: str) -> None:
    assert rebase_url(url, base) == expected


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = time.time()
    later = format_datetime(datetime.fromtimestamp(now + 120, tz=UTC), usegmt=True)
    earlier = format_datetime(datetime.fromtimestamp(now - 120, tz=UTC), usegmt=True)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert 118 <= parse_retry_after(later, now=now) <= 121  # type: ignore[operator]
    assert parse_retry_after(earlier, now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None and parse_retry_after(None) is None
    assert retry_after_from({"retry-AFTER": "30"}) == 30.0
    assert retry_after_from({}) is None and retry_after_from(None) is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, TransientError),
        (500, TransientError),
        (503, TransientError),
        (408, TransientError),
        (401, ConfigurationError),
        (403, ConfigurationError),
        (400, PermanentError),
        (404, PermanentError),
        (422, PermanentError),
    ],
)
def test_error_for_status(status: int, kind: type) -> None:
    error = error_for_status(status, "nope", provider="Pigeon")
    assert type(error) is kind
    assert error is not None and error.message.startswith(f"Pigeon HTTP {status}: nope")


def test_success_statuses_are_no_error() -> None:
    assert error_for_status(201, provider="Pigeon") is None
    assert error_for_status(302, provider="Pigeon") is None


def test_429_and_503_honour_retry_after() -> None:
    assert error_for_status(429, provider="P", headers={"Retry-After": "12"}).retry_after == 12.0  # type: ignore[union-attr]
    assert error_for_status(503, provider="P", headers={"Retry-After": "3"}).retry_after == 3.0  # type: ignore[union-attr]
    assert error_for_status(429, provider="P").retry_after is None  # type: ignore[union-attr]


def test_a_routed_session_reaches_the_fake_and_keeps_the_answer_headers(server: FakeServer) -> None:
    server.route("POST", r"/proxy/v1/send", lambda req: (429, {"Retry-After": "9"}, {"error": "slow down"}))
    session = requests.Session()
    adapter = route_requests(session, server.url + "/proxy", timeout=2, prefixes=("https://api.example.com",))
    response = session.post("https://api.example.com/v1/send", json={"to": "x"})
    assert response.status_code == 429
    assert server.requests[-1].path == "/proxy/v1/send" and server.requests[-1].json == {"to": "x"}
    assert retry_after_from(adapter.last_headers) == 9.0
    with pytest.raises(requests.HTTPError) as raised:
        response.raise_for_status()
    error = error_for_exception(raised.value, provider="Pigeon")
    assert isinstance(error, TransientError) and error.retry_after == 9.0


def test_a_routed_session_applies_the_timeout(server: FakeServer) -> None:
    release = threading.Event()

    def hang(req: Request) -> Response:
        release.wait(5)
        return 200, {}, {}

    server.route("POST", r"/v1/send", hang)
    session = requests.Session()
    route_requests(session, server.url, timeout=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(requests.Timeout) as raised:
            session.post("https://api.example.com/v1/send")
    finally:
        release.set()
    assert time.monotonic() - started < 3
    error = error_for_exception(raised.value, provider="Pigeon")
    assert isinstance(error, TransientError) and "did not answer in time" in error.message


def test_connection_refused_is_transient_and_does_not_show_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/bot{SECRET}/sendMessage"
    with pytest.raises(requests.ConnectionError) as raised:
        requests.post(url, timeout=2)
    error = error_for_exception(raised.value, provider="Pigeon")
    assert isinstance(error, TransientError) and error.message == "cannot connect to Pigeon (ConnectionError)"
    with httpx.Client(timeout=2) as client, pytest.raises(httpx.ConnectError) as raised_httpx:
        client.post(url)
    error = error_for_exception(raised_httpx.value, provider="Pigeon")
    assert isinstance(error, TransientError) and SECRET not in error.message


def test_httpx_timeouts_and_status_errors(server: FakeServer) -> None:
    release = threading.Event()

    def hang(req: Request) -> Response:
        release.wait(5)
        return 200, {}, {}

    server.route("POST", r"/slow", hang)
    server.route("POST", r"/login", lambda req: (401, {}, {"error": "bad key"}))
    server.route("POST", r"/busy", lambda req: (429, {"Retry-After": "4"}, {}))
    with httpx.Client(base_url=server.url, timeout=0.3) as client:
        try:
            with pytest.raises(httpx.TimeoutException) as slow:
                client.post("/slow")
        finally:
            release.set()
        assert isinstance(error_for_exception(slow.value, provider="P"), TransientError)
        with pytest.raises(httpx.HTTPStatusError) as login:
            client.post("/login").raise_for_status()
        assert isinstance(error_for_exception(login.value, provider="P"), ConfigurationError)
        with pytest.raises(httpx.HTTPStatusError) as busy:
            client.post("/busy").raise_for_status()
        error = error_for_exception(busy.value, provider="P")
        assert isinstance(error, TransientError) and error.retry_after == 4.0


def test_secrets_passed_in_are_masked() -> None:
    exc = requests.HTTPError(f"boom {SECRET}")
    error = error_for_exception(exc, provider=f"Pigeon {SECRET}", secrets=(SECRET,))
    assert error is not None and SECRET not in error.message and "***" in error.message


def test_other_exceptions_are_not_mapped() -> None:
    assert error_for_exception(KeyError("x"), provider="Pigeon") is None
    assert error_for_exception(ValueError("x"), provider="Pigeon") is None
