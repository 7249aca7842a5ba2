"""The fake provider's idempotency, which the kill -9 tests rely on to tell a repeated request
from a message delivered twice. Driven through the real delivery-test messenger over loopback."""

from __future__ import annotations

import pytest

from dsn_core.errors import TransientError
from dsn_core.messengers import Message, SendResult

from .harness import Provider
from .httpapp.messenger import HttpMessenger


def send(provider: Provider, delivery_id: int) -> SendResult:
    return HttpMessenger({"url": provider.url}).send(
        Message(address="a", subject="", text="hi", delivery_id=delivery_id)
    )


def test_a_repeated_idempotency_key_is_answered_but_not_delivered_again(provider: Provider) -> None:
    first, again, other = send(provider, 7), send(provider, 7), send(provider, 8)
    assert first.provider_id == again.provider_id == "fake-7-1" and other.provider_id == "fake-8-1"
    assert provider.accepted() == {7: 2, 8: 1}  # on the wire: the repeat counts
    assert provider.delivered() == {7: 1, 8: 1}  # delivered: once each
    assert [h.replay for h in provider.hits] == [False, True, False]


def test_a_refused_attempt_does_not_consume_the_key(provider: Provider) -> None:
    provider.policy = lambda delivery_id, attempt: (503, {}) if attempt == 1 else (200, {})
    with pytest.raises(TransientError, match="HTTP 503"):
        send(provider, 9)
    assert send(provider, 9).provider_id == "fake-9-2"
    assert provider.delivered() == {9: 1}
