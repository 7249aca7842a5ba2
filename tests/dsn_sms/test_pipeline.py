"""SMS through DSN's whole pipeline: signal -> notification -> fan-out -> twilio -> delivery row."""

from __future__ import annotations

from typing import Any

import pytest

from dsn_core import ratelimit
from dsn_core.addresses import get_address, set_address
from dsn_core.models import Delivery
from tests.testapp.models import Article

from .conftest import FROM_NUMBER, FakeTwilio

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen_limiter(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Freeze the limiter's clock and record the waits it asks for instead of sleeping."""
    waits: list[float] = []
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_000_000.0)
    monkeypatch.setattr(ratelimit, "sleep", waits.append)
    return waits


def test_post_save_sends_an_sms(
    configure: Any,
    twilio: FakeTwilio,
    make_flow: Any,
    dsn_flush: Any,
    django_user_model: Any,
    django_capture_on_commit_callbacks: Any,
    frozen_limiter: list[float],
) -> None:
    ann = django_user_model.objects.create_user("ann")
    bob = django_user_model.objects.create_user("bob")  # no number: skipped, not failed
    set_address(ann, "sms", "+14155550123")
    make_flow(Article, messenger="sms", users=[ann, bob], text="New article: {{ instance.title }}")
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hello")
    dsn_flush()
    sent = Delivery.objects.get(recipient=ann)
    skipped = Delivery.objects.get(recipient=bob)
    assert (sent.status, sent.attempts, sent.address) == ("sent", 1, "+14155550123")
    assert sent.provider_id.startswith("SM")
    assert (skipped.status, skipped.last_error) == ("skipped", "no address on this channel")
    assert [r.form for r in twilio.sent] == [{"To": "+14155550123", "From": FROM_NUMBER, "Body": "New article: Hello"}]


def test_fixed_numbers_are_sent_and_spaced_by_the_rate_limit(
    configure: Any,
    twilio: FakeTwilio,
    make_flow: Any,
    dsn_flush: Any,
    django_capture_on_commit_callbacks: Any,
    frozen_limiter: list[float],
) -> None:
    make_flow(Article, messenger="sms", fixed={"sms": ["+15005550001", "+15005550002", "+15005550003"]})
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Ops alert")
    dsn_flush()
    assert sorted(Delivery.objects.values_list("status", flat=True)) == ["sent"] * 3
    assert sorted(r.form["To"] for r in twilio.sent) == ["+15005550001", "+15005550002", "+15005550003"]
    assert frozen_limiter == pytest.approx([1.02, 2.04])  # 1/s from one long code, slots 2 % wider


def test_opted_out_recipient_dies_and_leaves_the_address_book(
    configure: Any,
    twilio: FakeTwilio,
    make_flow: Any,
    dsn_flush: Any,
    django_user_model: Any,
    django_capture_on_commit_callbacks: Any,
    frozen_limiter: list[float],
) -> None:
    ann = django_user_model.objects.create_user("ann")
    set_address(ann, "sms", "+14155550123")
    twilio.answer(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400})
    make_flow(Article, messenger="sms", users=[ann])
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hello")
    dsn_flush()
    delivery = Delivery.objects.get()
    assert delivery.status == "dead" and "21610" in delivery.last_error
    assert get_address(ann, "sms") is None


def test_twilio_outage_is_retried_later(
    configure: Any,
    twilio: FakeTwilio,
    make_flow: Any,
    dsn_flush: Any,
    django_user_model: Any,
    django_capture_on_commit_callbacks: Any,
    frozen_limiter: list[float],
) -> None:
    ann = django_user_model.objects.create_user("ann")
    set_address(ann, "sms", "+14155550123")
    twilio.answer(503, {"code": 20503, "message": "Service Unavailable", "status": 503}, {"Retry-After": "120"})
    make_flow(Article, messenger="sms", users=[ann])
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hello")
    dsn_flush()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and "20503" in delivery.last_error
    assert (delivery.next_attempt_at - delivery.updated_at).total_seconds() >= 119
