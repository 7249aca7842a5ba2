"""The core's provider contract, played against dsn-sms: the real twilio client talking to a
fake Twilio on 127.0.0.1 that answers each case the way Twilio's REST API does."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from dsn_sms.messenger import SmsMessenger

from dsn_core.testing import HttpMessengerContract, ProviderRequest, Reply

from .conftest import ACCOUNT_SID, AUTH_TOKEN, message_resource, twilio_error

#: What an HTTP Basic header carries: the account SID and auth token, base64-encoded.
BASIC_CREDENTIALS = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


class TestSmsProviderContract(HttpMessengerContract):
    hang_for = 6.0
    bad_address = "+15005550001"  # Twilio's magic "invalid number"

    @pytest.fixture
    def messenger_at(self, configure: Any) -> Callable[[str], SmsMessenger]:
        def make(url: str) -> SmsMessenger:
            configure(API_BASE_URL=url, TIMEOUT=1)
            return SmsMessenger({})

        return make

    @pytest.fixture
    def address(self) -> str:
        return "+14155550123"

    @pytest.fixture
    def provider_secrets(self) -> list[str]:
        return [AUTH_TOKEN, BASIC_CREDENTIALS]

    def provider_reply(self, case: str, request: ProviderRequest, *, retry_after: str = "") -> Reply:
        # Twilio's error messages quote what they refused; this fake quotes the whole request.
        echo = f"(request: {request.headers} {request.body.decode('utf-8', 'replace')})"
        if case == "ok":
            return Reply(201, message_resource(f"SM{len(request.body):032x}", request.form()))
        if case == "rate_limited":
            return Reply(429, twilio_error(429, 20429, f"Too Many Requests {echo}"), {"Retry-After": retry_after})
        if case == "server_error":
            return Reply(503, twilio_error(503, 20500, f"Internal Server Error {echo}"))
        if case == "unauthorized":
            return Reply(401, twilio_error(401, 20003, f"Authenticate {echo}"))
        if case == "bad_address":
            return Reply(400, twilio_error(400, 21211, f"The 'To' number is not a valid phone number {echo}"))
        raise ValueError(f"unknown case {case!r}")
