"""The core's provider contract, played against dsn-twitter: the real tweepy client talking to a
fake X API v2 on 127.0.0.1 that answers each case the way X does (problem-details JSON bodies,
and rate limits told by ``x-rate-limit-reset``, an epoch time, never an HTTP-date)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from dsn_twitter.messenger import TwitterMessenger

from dsn_core.testing import HttpMessengerContract, ProviderRequest, Reply

from .conftest import CREDENTIALS, dm_created, tweet_created


def problem(status: int, title: str, detail: str, kind: str = "about:blank") -> dict[str, Any]:
    """An error body as X API v2 writes it (RFC 7807 problem details)."""
    return {"title": title, "detail": detail, "type": kind, "status": status}


class XContract(HttpMessengerContract):
    """How X answers each case; the subclasses say which mode the messenger runs in."""

    hang_for = 6.0
    retry_after_http_date = False  # X tells a rate limit's end as an epoch time only
    mode = "tweet"

    @pytest.fixture
    def messenger_at(self, configure: Any) -> Callable[[str], TwitterMessenger]:
        def make(url: str) -> TwitterMessenger:
            configure(API_BASE_URL=url, TIMEOUT=1)
            return TwitterMessenger({"mode": self.mode})

        return make

    @pytest.fixture
    def provider_secrets(self) -> list[str]:
        return [CREDENTIALS["CONSUMER_SECRET"], CREDENTIALS["ACCESS_TOKEN_SECRET"]]

    def provider_reply(self, case: str, request: ProviderRequest, *, retry_after: str = "") -> Reply:
        echo = f"(request: {request.headers} {request.body.decode('utf-8', 'replace')})"
        if case == "ok":
            if "/dm_conversations/" in request.path:
                return Reply(201, dm_created(1790000000000000001, request.path.split("/")[-2]))
            return Reply(201, tweet_created(1790000000000000002, request.json().get("text", "")))
        if case == "rate_limited":
            reset = str(int(time.time() + float(retry_after)))
            return Reply(
                429,
                problem(429, "Too Many Requests", f"Too Many Requests {echo}"),
                {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset},
            )
        if case == "server_error":
            return Reply(503, problem(503, "Service Unavailable", f"Service Unavailable {echo}"))
        if case == "unauthorized":
            return Reply(401, problem(401, "Unauthorized", f"Unauthorized {echo}"))
        if case == "bad_address":
            return Reply(
                400,
                problem(
                    400,
                    "Invalid Request",
                    f"participant_id is not a user {echo}",
                    "https://api.twitter.com/2/problems/invalid-request",
                ),
            )
        raise ValueError(f"unknown case {case!r}")


class TestTweetProviderContract(XContract):
    """Posting to the account's timeline: one address only, so no bad address to refuse."""

    cases = XContract.CASES - {"bad_address"}

    @pytest.fixture
    def address(self) -> str:
        return "timeline"


class TestDirectMessageProviderContract(XContract):
    mode = "dm"
    bad_address = "9999999999"

    @pytest.fixture
    def address(self) -> str:
        return "783214"
