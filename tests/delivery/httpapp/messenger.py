"""``HttpMessenger``: POSTs each message as JSON to a fake provider over loopback.

The provider's wire format is ours: ``POST <url>/deliver`` with
``{"delivery_id", "address", "text"}`` and an ``Idempotency-Key`` header; 2xx with
``{"id": ...}`` is accepted, 429 (with ``Retry-After``) and 5xx are transient, other 4xx
are permanent. Batch size and rate limit are class attributes, so tests make variants
with :func:`make_messenger`.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

from dsn_core.errors import PermanentError, TransientError
from dsn_core.messengers import Message, Messenger, Option, RateLimit, SendResult


class HttpMessenger(Messenger):
    """Sends one HTTP request per message to ``options["url"]``."""

    key = "http"
    label = "HTTP (delivery tests)"
    options = (
        Option("url", "base URL of the fake provider", required=True),
        Option("timeout", "seconds before a request is given up", default=5.0, type=float),
    )

    def addresses_for(self, users: Iterable[Any]) -> dict[Any, str]:
        """Every user's address is ``addr-<username>`` (no address book needed)."""
        return {u.pk: f"addr-{u.get_username()}" for u in users}

    def address_for(self, user: Any) -> str | None:
        return f"addr-{user.get_username()}"

    def send(self, message: Message) -> SendResult:
        body = json.dumps(
            {"delivery_id": message.delivery_id, "address": message.address, "text": message.text}
        ).encode()
        request = urllib.request.Request(
            self.option_values["url"].rstrip("/") + "/deliver",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": message.idempotency_key,
                "X-Sender-Pid": str(os.getpid()),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=float(self.option_values["timeout"])) as response:
                answer = json.loads(response.read() or b"{}")
                return SendResult(provider_id=str(answer.get("id", "")))
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                retry_after = exc.headers.get("Retry-After")
                raise TransientError(
                    "provider: too many requests", retry_after=float(retry_after) if retry_after else None
                ) from None
            if exc.code >= 500:
                raise TransientError(f"provider: HTTP {exc.code}") from None
            raise PermanentError(f"provider refused the message: HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransientError(f"provider unreachable: {exc}") from None


def make_messenger(
    *, batch: int = 100, rate: tuple[int, float] | None = None, dedup: bool = False
) -> type[HttpMessenger]:
    """An ``HttpMessenger`` variant with this batch size and messenger-wide rate limit.

    ``dedup=True`` declares that the provider deduplicates by ``Idempotency-Key`` (the fake
    one does), so the core hands it whole batches; by default the core treats it like a
    provider without idempotency keys (one message per call, each recorded at once).
    """
    attrs: dict[str, Any] = {"max_batch_size": batch, "deduplicates": dedup, "__doc__": HttpMessenger.__doc__}
    if rate is not None:
        attrs["rate_limits"] = (RateLimit(rate[0], rate[1]),)
    return type("HttpMessenger", (HttpMessenger,), attrs)
