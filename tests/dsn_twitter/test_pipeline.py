"""X through DSN's whole pipeline: signal -> notification -> fan-out -> tweepy -> delivery row."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dsn_core import ratelimit
from dsn_core.addresses import set_address
from dsn_core.models import Delivery
from tests.testapp.models import Article

from .conftest import FakeX

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_limiter(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_000_000.0)
    monkeypatch.setattr(ratelimit, "sleep", waits.append)
    return waits


def fire(django_capture_on_commit_callbacks: Any, dsn_flush: Any, title: str = "Hello") -> None:
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title=title)
    dsn_flush()


def test_post_save_tweets_once_on_the_timeline(
    configure: Any,
    x_api: FakeX,
    make_flow: Any,
    dsn_flush: Any,
    django_user_model: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    ann = django_user_model.objects.create_user("ann")
    make_flow(
        Article,
        messenger="twitter",
        users=[ann],
        fixed={"twitter": ["timeline"]},
        text="New on the blog: {{ instance.title }}",
        options={"mode": "tweet"},
    )
    fire(django_capture_on_commit_callbacks, dsn_flush)
    timeline = Delivery.objects.get(address="timeline")
    assert timeline.status == "sent" and timeline.provider_id.isdigit()
    assert not Delivery.objects.filter(recipient=ann).exists()  # tweet mode posts once, to nobody in particular
    assert [r.json for r in x_api.received] == [{"text": "New on the blog: Hello"}]


def test_dm_mode_messages_each_linked_user(
    configure: Any,
    x_api: FakeX,
    make_flow: Any,
    dsn_flush: Any,
    django_user_model: Any,
    django_capture_on_commit_callbacks: Any,
    frozen_limiter: list[float],
) -> None:
    ann = django_user_model.objects.create_user("ann")
    bob = django_user_model.objects.create_user("bob")
    set_address(ann, "twitter", "111")
    set_address(bob, "twitter", "222")
    make_flow(Article, messenger="twitter", users=[ann, bob], options={"mode": "dm"})
    fire(django_capture_on_commit_callbacks, dsn_flush)
    assert sorted(Delivery.objects.values_list("address", "status")) == [("111", "sent"), ("222", "sent")]
    assert sorted(r.path for r in x_api.received) == [
        "/2/dm_conversations/with/111/messages",
        "/2/dm_conversations/with/222/messages",
    ]
    assert frozen_limiter == pytest.approx([4.59])  # 200 per 15 min: one every 4.5 s, slots 2 % wider


def test_rate_limited_tweet_waits_for_the_window(
    configure: Any, x_api: FakeX, make_flow: Any, dsn_flush: Any, django_capture_on_commit_callbacks: Any
) -> None:
    x_api.answer(
        429,
        {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
        {"x-rate-limit-reset": str(int(time.time()) + 900)},
    )
    make_flow(Article, messenger="twitter", fixed={"twitter": ["timeline"]})
    fire(django_capture_on_commit_callbacks, dsn_flush)
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and "429" in delivery.last_error
    assert (delivery.next_attempt_at - delivery.updated_at).total_seconds() >= 880


def test_duplicate_tweet_dies_with_the_reason(
    configure: Any, x_api: FakeX, make_flow: Any, dsn_flush: Any, django_capture_on_commit_callbacks: Any
) -> None:
    x_api.answer(
        403,
        {
            "title": "Forbidden",
            "type": "about:blank",
            "status": 403,
            "detail": "You are not allowed to create a Tweet with duplicate content.",
        },
    )
    make_flow(Article, messenger="twitter", fixed={"twitter": ["timeline"]})
    fire(django_capture_on_commit_callbacks, dsn_flush)
    delivery = Delivery.objects.get()
    assert delivery.status == "dead" and delivery.last_error.startswith("duplicate")
