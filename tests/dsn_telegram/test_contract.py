"""The core's provider contract, played against dsn-telegram: the real python-telegram-bot
client talking to a fake Bot API on 127.0.0.1 that answers each case the way Telegram does
(``{"ok": false, "error_code": ..., "description": ...}``; flood control's wait in
``parameters.retry_after``, whole seconds, never an HTTP-date)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dsn_telegram.messenger import TelegramMessenger

from dsn_core.testing import HttpMessengerContract, ProviderRequest, Reply

from .conftest import TOKEN, api_error, sent_message


def failure(status: int, description: str, **parameters: Any) -> Reply:
    """A Bot API error answer, as the fake Bot API gives it."""
    status, headers, body = api_error(status, description, **parameters)
    return Reply(status, body, headers)


class TestTelegramProviderContract(HttpMessengerContract):
    hang_for = 6.0
    retry_after_http_date = False  # flood control says whole seconds, in the JSON body
    bad_address = "-1009999999999"

    @pytest.fixture
    def messenger_at(self, settings: Any, telegram_settings: dict[str, Any]) -> Callable[[str], TelegramMessenger]:
        def make(url: str) -> TelegramMessenger:
            settings.DSN = {**settings.DSN, "TELEGRAM": {**telegram_settings, "API_BASE_URL": url, "TIMEOUT": 1}}
            return TelegramMessenger({})

        return make

    @pytest.fixture
    def address(self) -> str:
        return "4242"

    @pytest.fixture
    def provider_secrets(self) -> list[str]:
        return [TOKEN]

    def provider_reply(self, case: str, request: ProviderRequest, *, retry_after: str = "") -> Reply:
        # Telegram itself never quotes a request; a proxy in front of it may: this fake quotes the
        # path, which holds the bot token, to prove the token is scrubbed from every error.
        echo = f"(request: {request.method} {request.path})"
        if case == "ok":
            params = request.json() if "json" in request.headers.get("Content-Type", "") else request.form()
            return Reply(200, {"ok": True, "result": sent_message(params, 1000 + len(request.body))})
        if case == "rate_limited":
            seconds = int(float(retry_after))
            return failure(429, f"Too Many Requests: retry after {seconds} {echo}", retry_after=seconds)
        if case == "server_error":
            return failure(502, f"Bad Gateway {echo}")
        if case == "unauthorized":
            return failure(401, f"Unauthorized {echo}")
        if case == "bad_address":
            return failure(400, f"Bad Request: chat not found {echo}")
        raise ValueError(f"unknown case {case!r}")
