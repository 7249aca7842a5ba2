"""A fake Telegram Bot API on 127.0.0.1, and settings pointing the plugin at it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes import FakeServer, Request

TOKEN = "123456789:AAE-fake_token_for_dsn_tests_0123456789"
SECRET = "webhook-secret_42"
USERNAME = "dsn_test_bot"


def api_error(status: int, description: str, **parameters: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    """A Bot API error answer."""
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return status, {}, body


def sent_message(params: dict[str, Any], message_id: int) -> dict[str, Any]:
    """The Message object sendMessage answers with, for the parameters it was called with."""
    chat_id = int(params["chat_id"]) if str(params["chat_id"]).lstrip("-").isdigit() else 0
    return {
        "message_id": message_id,
        "date": 1700000000,
        "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
        "text": params.get("text", ""),
    }


class FakeBotAPI:
    """The Bot API methods DSN uses: sendMessage and getUpdates (getMe for good measure)."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.url = server.url
        self.ids = itertools.count(1000)
        self.updates: list[dict[str, Any]] = []
        self.get_updates_calls: list[Request] = []
        self.lock = threading.Lock()
        # later routes win: the catch-all (any other token: 401, as Telegram answers) goes first
        server.route("POST", r"/bot[^/]+/\w+", lambda req: api_error(401, "Unauthorized"))
        server.route("POST", rf"/bot{TOKEN}/sendMessage", self.send_message)
        server.route("POST", rf"/bot{TOKEN}/getUpdates", self.get_updates)
        server.route("POST", rf"/bot{TOKEN}/getMe", self.get_me)

    @staticmethod
    def params(req: Request) -> dict[str, Any]:
        return req.json if isinstance(req.json, dict) else req.form

    def send_message(self, req: Request) -> tuple[int, dict[str, str], dict[str, Any]]:
        return 200, {}, {"ok": True, "result": sent_message(self.params(req), next(self.ids))}

    def get_updates(self, req: Request) -> tuple[int, dict[str, str], dict[str, Any]]:
        params = self.params(req)
        self.get_updates_calls.append(req)
        offset = int(params.get("offset") or 0)
        with self.lock:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            pending = list(self.updates)
        return 200, {}, {"ok": True, "result": pending}

    def get_me(self, req: Request) -> tuple[int, dict[str, str], dict[str, Any]]:
        return (
            200,
            {},
            {"ok": True, "result": {"id": 123456789, "is_bot": True, "first_name": "DSN", "username": USERNAME}},
        )

    def on_send(self, handler: Callable[[Request], Any]) -> None:
        """Answer sendMessage with ``handler`` from now on."""
        self.server.route("POST", rf"/bot{TOKEN}/sendMessage", handler)

    def sent(self) -> list[dict[str, Any]]:
        """Parameters of every sendMessage call received, in order."""
        return [self.params(r) for r in self.server.requests if r.path.endswith("/sendMessage")]


@pytest.fixture
def bot_api() -> Iterator[FakeBotAPI]:
    with FakeServer() as server:
        yield FakeBotAPI(server)


@pytest.fixture
def telegram_settings(settings: Any, bot_api: FakeBotAPI) -> dict[str, Any]:
    section = {
        "BOT_TOKEN": TOKEN,
        "BOT_USERNAME": USERNAME,
        "API_BASE_URL": bot_api.url,
        "WEBHOOK_SECRET": SECRET,
        "TIMEOUT": 2,
    }
    settings.DSN = {**settings.DSN, "TELEGRAM": section}
    return section


def private_update(update_id: int, chat_id: int, text: str, chat_type: str = "private") -> dict[str, Any]:
    """A Bot API update carrying a text message."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id * 10,
            "date": 1700000000,
            "chat": {"id": chat_id, "type": chat_type, "first_name": "Ada"},
            "from": {"id": chat_id if chat_id > 0 else 42, "is_bot": False, "first_name": "Ada"},
            "text": text,
        },
    }
