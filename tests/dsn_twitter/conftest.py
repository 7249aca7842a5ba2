"""A fake X API v2 on 127.0.0.1 and the settings that point dsn-twitter at it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes import FakeServer, Request, Response

CREDENTIALS = {
    "CONSUMER_KEY": "ck-visible-in-oauth-header",
    "CONSUMER_SECRET": "cs-9f8e7d6c5b4a",  # fake, but tests check secrets never leak
    "ACCESS_TOKEN": "12345-at-visible-in-oauth-header",
    "ACCESS_TOKEN_SECRET": "ats-1a2b3c4d5e6f",
}
TWEETS = r"/2/tweets"
DMS = r"/2/dm_conversations/with/([^/]+)/messages"


def tweet_created(tweet_id: int, text: str) -> dict[str, Any]:
    """X's answer to ``POST /2/tweets`` (201)."""
    return {"data": {"id": str(tweet_id), "text": text, "edit_history_tweet_ids": []}}


def dm_created(event_id: int, participant: str) -> dict[str, Any]:
    """X's answer to ``POST /2/dm_conversations/with/<participant>/messages`` (201)."""
    return {"data": {"dm_conversation_id": f"{participant}-99", "dm_event_id": str(event_id)}}


class FakeX:
    """Answers ``POST /2/tweets`` and ``POST /2/dm_conversations/with/<id>/messages`` like X."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.url = server.url
        self.ids = itertools.count(1_790_000_000_000_000_001)
        self.release = threading.Event()
        server.route("POST", TWEETS, self.tweet)
        server.route("POST", DMS, self.dm)

    def tweet(self, request: Request) -> Response:
        return 201, {}, tweet_created(next(self.ids), request.json["text"])

    def dm(self, request: Request) -> Response:
        return 201, {}, dm_created(next(self.ids), request.path.split("/")[-2])

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None, path: str = TWEETS) -> None:
        """Make every following request to ``path`` get this answer."""
        self.server.route("POST", path, lambda request: (status, headers or {}, body))

    def hang(self, path: str = TWEETS) -> None:
        def slow(request: Request) -> Response:
            self.release.wait(5)
            return 201, {}, {"data": {"id": "1"}}

        self.server.route("POST", path, slow)

    @property
    def received(self) -> list[Request]:
        return [r for r in self.server.requests if r.method == "POST"]


@pytest.fixture(scope="session")
def x_server() -> Iterator[FakeServer]:
    """One server for the session (stopping one takes half a second); routes reset per test."""
    with FakeServer() as server:
        yield server


@pytest.fixture
def x_api(x_server: FakeServer) -> Iterator[FakeX]:
    with x_server.lock:
        x_server.routes.clear()
        x_server.requests.clear()
    fake = FakeX(x_server)
    yield fake
    fake.release.set()


@pytest.fixture
def configure(settings: Any, x_api: FakeX, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``configure(**overrides)`` sets ``DSN["TWITTER"]`` (None removes a key); env fallbacks cleared."""
    for name in CREDENTIALS:
        monkeypatch.delenv(f"DSN_TWITTER_{name}", raising=False)

    def apply(**overrides: Any) -> dict[str, Any]:
        section: dict[str, Any] = {**CREDENTIALS, "API_BASE_URL": x_api.url, "TIMEOUT": 2}
        for key, value in overrides.items():
            if value is None:
                section.pop(key, None)
            else:
                section[key] = value
        settings.DSN = {**settings.DSN, "TWITTER": section}
        return section

    apply()
    return apply
