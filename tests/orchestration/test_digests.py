"""Digests: windows, daily at a time in the recipient's zone, after N events, first at once."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest

from dsn_core.models import Delivery, DeliveryPreference, Digest, Notification
from dsn_core.orchestration.digests import close, close_due
from dsn_core.sending import drain
from dsn_core.sweep import sweep

from .conftest import event

pytestmark = pytest.mark.django_db

#: One template for both: a single event (sent at once) and a digest of many.
DIGEST_TEXT = (
    "{% if events %}{{ count }}:{% for e in events %} {{ e.instance }}/{{ e.verb }}{% endfor %}"
    "{% else %}{{ instance }}{% endif %}"
)


def test_a_window_collects_events_into_one_message(flow: Any, person: Any, clock: Any, channels: list) -> None:
    flow("chat", users=[person], text=DIGEST_TEXT, digest="window", digest_minutes=10)
    for title in ("a", "b", "c"):
        event(title)
        clock.advance(minutes=1)
    assert channels == [] and Delivery.objects.count() == 0
    clock.advance(minutes=6)  # 9 minutes after the first event
    assert close_due() == 0
    clock.advance(minutes=1)
    assert close_due() == 1
    drain(None)
    assert channels == [("chat", "ann-chat", "3: a/post_save b/post_save c/post_save")]
    assert Delivery.objects.get().status == "sent"
    event("d")  # a new window opens
    assert Digest.objects.filter(closed_at=None).get().count == 1


def test_first_event_at_once_then_the_rest_in_the_digest(flow: Any, person: Any, clock: Any, channels: list) -> None:
    flow("chat", users=[person], text=DIGEST_TEXT, digest="window", digest_minutes=10, digest_first_immediately=True)
    event("first")
    assert channels == [("chat", "ann-chat", "first")]
    clock.advance(minutes=2)
    event("second")
    event("third")
    assert len(channels) == 1
    clock.advance(minutes=8)
    close_due()
    drain(None)
    assert channels[1] == ("chat", "ann-chat", "2: second/post_save third/post_save")
    clock.advance(minutes=30)  # idle: the next event is again the first of a period
    event("later")
    assert channels[2] == ("chat", "ann-chat", "later")


def test_an_idle_window_sends_nothing(flow: Any, person: Any, clock: Any, channels: list) -> None:
    flow("chat", users=[person], digest="window", digest_minutes=5, digest_first_immediately=True)
    event("only")
    clock.advance(minutes=5)
    assert close_due() == 0
    assert len(channels) == 1 and Digest.objects.get().closed_at is not None


def test_after_n_events_or_the_window(flow: Any, person: Any, clock: Any, channels: list) -> None:
    flow("chat", users=[person], text=DIGEST_TEXT, digest="window", digest_minutes=60, digest_max_events=2)
    event("a")
    event("b")  # the second event closes the window at once
    drain(None)
    assert channels == [("chat", "ann-chat", "2: a/post_save b/post_save")]
    event("c")
    clock.advance(minutes=60)
    close_due()
    drain(None)
    assert channels[-1] == ("chat", "ann-chat", "1: c/post_save")


def test_daily_at_a_time_in_the_recipients_zone(flow: Any, person: Any, clock: Any) -> None:
    flow("chat", users=[person], digest="daily", digest_at=time(9, 0))
    DeliveryPreference.objects.create(user=person, time_zone="America/New_York")
    clock.now = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)  # 15:00 in New York
    event()
    # The next 09:00 in New York is 14:00 UTC the next day.
    assert Digest.objects.get().due_at == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    clock.now = datetime(2026, 12, 7, 13, 59, tzinfo=UTC)
    assert close_due() == 0
    clock.now = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    assert close_due() == 1


def test_a_window_is_closed_once_and_the_sweeper_closes_lost_ones(
    flow: Any, person: Any, clock: Any, channels: list
) -> None:
    flow("chat", users=[person], text=DIGEST_TEXT, digest="window", digest_minutes=10)
    event("a")
    digest = Digest.objects.get()
    clock.advance(minutes=10)
    report = sweep(grace=0, enqueue=False)
    assert report["digests_closed"] == 1
    assert close(digest.pk) is None  # a second closer (another worker) writes nothing
    assert close_due() == 0
    drain(None)
    assert channels == [("chat", "ann-chat", "1: a/post_save")]
    digest.refresh_from_db()
    assert digest.delivery_id == Delivery.objects.get().pk
    # The digest is a notification of its own, already fanned out, rendered from the snapshots.
    assert Notification.objects.filter(fanned_out_at__isnull=False).count() == 2


def test_a_second_fan_out_does_not_add_the_event_twice(flow: Any, person: Any, clock: Any) -> None:
    from dsn_core.fanout import fan_out

    flow("chat", users=[person], digest="window", digest_minutes=10)
    event("a")
    notification = Notification.objects.get()
    Notification.objects.filter(pk=notification.pk).update(fanned_out_at=None)
    fan_out(notification.pk)
    assert Digest.objects.get().count == 1


def test_a_second_fan_out_after_the_window_closed_opens_no_new_window(
    flow: Any, person: Any, clock: Any, channels: list
) -> None:
    """A worker killed between collecting an event and marking it fanned out: the sweeper fans it
    out again, possibly after its window was closed and sent; the event is not digested twice."""
    from dsn_core.fanout import fan_out

    flow("chat", users=[person], text=DIGEST_TEXT, digest="window", digest_minutes=10)
    event("a")
    notification = Notification.objects.get()
    clock.advance(minutes=11)
    assert close_due() == 1
    drain(None)
    assert channels == [("chat", "ann-chat", "1: a/post_save")]
    Notification.objects.filter(pk=notification.pk).update(fanned_out_at=None)
    fan_out(notification.pk)
    assert Digest.objects.filter(closed_at=None).count() == 0
    clock.advance(minutes=11)
    close_due()
    drain(None)
    assert len(channels) == 1


def test_a_daily_digest_needs_a_time(flow: Any) -> None:
    from django.core.exceptions import ValidationError

    from dsn_core.models import SubscriptionPolicy

    sub = flow("chat")
    with pytest.raises(ValidationError) as info:
        SubscriptionPolicy(subscription=sub, digest="daily").full_clean()
    assert "digest_at" in info.value.message_dict


def test_the_event_sent_at_once_is_not_digested_by_a_second_fan_out(
    flow: Any, person: Any, clock: Any, channels: list
) -> None:
    from dsn_core.fanout import fan_out

    flow("chat", users=[person], digest="window", digest_minutes=10, digest_first_immediately=True)
    event("first")
    notification = Notification.objects.get()
    Notification.objects.filter(pk=notification.pk).update(fanned_out_at=None)
    fan_out(notification.pk)
    assert Digest.objects.get().count == 0 and Delivery.objects.count() == 1


def test_a_throttled_first_event_goes_into_the_digest(flow: Any, person: Any, clock: Any, channels: list) -> None:
    flow(
        "chat",
        users=[person],
        text=DIGEST_TEXT,
        digest="window",
        digest_minutes=10,
        digest_first_immediately=True,
        throttle_limit=1,
        throttle_minutes=60,
    )
    event("a")  # first of the period, within the throttle: at once
    clock.advance(minutes=10)
    close_due()
    event("b")  # first of a new period, but over the throttle: into the window instead
    assert [text for _, _, text in channels] == ["a"]
    assert Digest.objects.get(closed_at=None).count == 1
    clock.advance(minutes=10)
    close_due()
    drain(None)
    assert channels[-1] == ("chat", "ann-chat", "1: b/post_save")
