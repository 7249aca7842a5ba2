"""A fake Twilio Messages API on 127.0.0.1 and the settings that point dsn-sms at it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes import FakeServer, Request, Response

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "tok-5e3c7a1f9b2d4e6f8a0c"  # fake, but tests check it never leaks
FROM_NUMBER = "+15005550006"
SERVICE_SID = "MG" + "fedcba9876543210" * 2
MESSAGES_PATH = rf"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages\.json"


def message_resource(sid: str, form: dict[str, str]) -> dict[str, Any]:
    """The Message resource Twilio answers a created message with (201)."""
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "status": "queued",
        "to": form.get("To"),
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "body": form.get("Body"),
        "num_segments": "1",
        "date_created": "Thu, 01 May 2025 12:00:00 +0000",
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """An error body as Twilio's REST API writes it."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeTwilio:
    """Answers ``POST .../Messages.json`` like Twilio: 201 with a message resource."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.url = server.url
        self.counter = itertools.count(1)
        self.release = threading.Event()
        server.route("POST", MESSAGES_PATH, self.created)

    def created(self, request: Request) -> Response:
        return 201, {}, message_resource(f"SM{next(self.counter):032x}", request.form)

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Make every following send get this answer."""
        self.server.route("POST", MESSAGES_PATH, lambda request: (status, headers or {}, body))

    def hang(self) -> None:
        """Make every following send wait (until the test ends) without answering."""

        def slow(request: Request) -> Response:
            self.release.wait(5)
            return 201, {}, {"sid": "SMlate"}

        self.server.route("POST", MESSAGES_PATH, slow)

    @property
    def sent(self) -> list[Request]:
        return [r for r in self.server.requests if r.path.endswith("/Messages.json")]


@pytest.fixture(scope="session")
def twilio_server() -> Iterator[FakeServer]:
    """One server for the session (stopping one takes half a second); routes reset per test."""
    with FakeServer() as server:
        yield server


@pytest.fixture
def twilio(twilio_server: FakeServer) -> Iterator[FakeTwilio]:
    with twilio_server.lock:
        twilio_server.routes.clear()
        twilio_server.requests.clear()
    fake = FakeTwilio(twilio_server)
    yield fake
    fake.release.set()


def sms_section(twilio: FakeTwilio, **extra: Any) -> dict[str, Any]:
    section = {
        "ACCOUNT_SID": ACCOUNT_SID,
        "AUTH_TOKEN": AUTH_TOKEN,
        "FROM_NUMBER": FROM_NUMBER,
        "API_BASE_URL": twilio.url,
        "TIMEOUT": 2,
    }
    section.update(extra)
    return section


@pytest.fixture
def configure(settings: Any, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``configure(**overrides)`` sets ``DSN["SMS"]`` (None removes a key); env fallbacks cleared."""
    for name in ("ACCOUNT_SID", "AUTH_TOKEN", "FROM_NUMBER", "MESSAGING_SERVICE_SID", "PHONE_ATTRIBUTE"):
        monkeypatch.delenv(f"DSN_SMS_{name}", raising=False)

    def apply(**overrides: Any) -> dict[str, Any]:
        section = sms_section(twilio)
        for key, value in overrides.items():
            if value is None:
                section.pop(key, None)
            else:
                section[key] = value
        settings.DSN = {**settings.DSN, "SMS": section}
        return section

    apply()
    return apply
