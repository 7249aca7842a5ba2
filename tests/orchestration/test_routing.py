"""Throttles, fallback chains, each person's preferred channel, and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest

from dsn_core.models import Address, Delivery, DeliveryPreference, Digest, SubscriptionPolicy
from dsn_core.orchestration.digests import close_due
from dsn_core.receipts import record_receipt
from dsn_core.sending import drain

from .conftest import event

pytestmark = pytest.mark.django_db


def _chain() -> list[tuple[str, str, str, str | None]]:
    """(messenger, status, error, messenger of the step it replaces) of every delivery, oldest first."""
    return [
        (d.messenger, d.status, d.last_error, d.fallback_of.messenger if d.fallback_of else None)
        for d in Delivery.objects.select_related("fallback_of").order_by("pk")
    ]


# -- throttle ------------------------------------------------------------------------------------


def test_throttle_drops_what_is_over_the_limit(flow: Any, person: Any, clock: Any, channels: list) -> None:
    flow("chat", users=[person], throttle_limit=2, throttle_minutes=60)
    for title in "abcd":
        event(title)
    assert [text for _, _, text in channels] == ["a", "b"]
    assert sorted(Delivery.objects.values_list("status", "last_error")) == [
        ("sent", ""),
        ("sent", ""),
        ("skipped", "throttled"),
        ("skipped", "throttled"),
    ]
    clock.advance(minutes=60)  # the next window
    event("e")
    assert channels[-1][2] == "e"


def test_throttle_folds_the_rest_into_a_digest(flow: Any, person: Any, clock: Any, channels: list) -> None:
    flow(
        "chat",
        users=[person],
        throttle_limit=1,
        throttle_minutes=60,
        throttle_overflow="digest",
        text="{% if events %}{{ count }} more{% else %}{{ instance }}{% endif %}",
    )
    for title in "abc":
        event(title)
    assert [text for _, _, text in channels] == ["a"]
    clock.now = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)  # the throttle window ends on the hour
    assert close_due() == 1
    drain(None)
    assert [text for _, _, text in channels] == ["a", "2 more"]


def test_a_channel_throttle_counts_across_subscriptions(flow: Any, person: Any, channels: list) -> None:
    for _ in range(2):
        flow("chat", users=[person], throttle_limit=3, throttle_scope="channel")
    event("a")  # two subscriptions: two messages
    event("b")  # two more, but the channel allows three an hour
    assert len(channels) == 3
    assert Delivery.objects.filter(last_error="throttled").count() == 1


# -- fallback ------------------------------------------------------------------------------------


def test_a_chain_through_three_channels_with_the_middle_one_dead(flow: Any, person: Any, channels: list) -> None:
    flow("chat", "mail", "pager", users=[person], routing="chain")
    Address.objects.filter(user=person, messenger="chat").delete()  # no chat address
    Address.objects.filter(user=person, messenger="mail").update(address="dead@example.com")
    event("hello")
    drain(None)  # the fallback's own send (enqueued on commit in production)
    assert _chain() == [
        ("chat", "skipped", "no address on this channel", None),
        ("mail", "dead", "mail: dead@example.com does not exist", "chat"),
        ("pager", "sent", "", "mail"),
    ]
    assert channels == [("pager", "ann-pager", "hello")]


def test_a_chain_stops_at_the_first_channel_that_works(flow: Any, person: Any, channels: list) -> None:
    flow("chat", "mail", "pager", users=[person], routing="chain")
    event("hello")
    assert channels == [("chat", "ann-chat", "hello")]
    assert Delivery.objects.count() == 1


def test_a_bad_receipt_moves_the_chain_on_when_asked(
    flow: Any, person: Any, channels: list, django_capture_on_commit_callbacks: Any
) -> None:
    flow("chat", "mail", users=[person], routing="chain", fallback_on_receipt=True)
    event("hello")
    first = Delivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        record_receipt("chat", "undelivered", provider_id=first.provider_id)
    with django_capture_on_commit_callbacks(execute=True):
        record_receipt("chat", "bounced", provider_id=first.provider_id)  # a second report: no second step
    drain(None)
    assert _chain() == [("chat", "sent", "", None), ("mail", "sent", "", "chat")]


def test_without_receipt_fallback_a_bad_receipt_changes_nothing(flow: Any, person: Any) -> None:
    flow("chat", "mail", users=[person], routing="chain")
    event("hello")
    record_receipt("chat", "undelivered", provider_id=Delivery.objects.get().provider_id)
    assert Delivery.objects.count() == 1


def test_an_opted_out_channel_is_passed_over(flow: Any, person: Any, channels: list) -> None:
    from dsn_core.models import OptOut

    flow("chat", "mail", users=[person], routing="chain")
    OptOut.objects.create(user=person, messenger="chat")
    event("hello")
    assert _chain() == [("chat", "skipped", "opted out", None), ("mail", "sent", "", "chat")]


# -- the recipient's choice ----------------------------------------------------------------------


def test_each_person_gets_their_preferred_channel(
    flow: Any, person: Any, django_user_model: Any, channels: list
) -> None:
    bob = django_user_model.objects.create_user("bob")
    Address.objects.create(user=bob, messenger="chat", address="bob-chat")
    DeliveryPreference.objects.create(user=person, channel_order="pager,mail")
    DeliveryPreference.objects.create(user=bob, channel_order="pager")  # bob has no pager address
    flow("chat", "mail", "pager", users=[person, bob], routing="preferred")
    event("hello")
    assert sorted(channels) == [("chat", "bob-chat", "hello"), ("pager", "ann-pager", "hello")]


def test_critical_subscriptions_ignore_preferences(flow: Any, person: Any, channels: list) -> None:
    DeliveryPreference.objects.create(user=person, channel_order="pager")
    flow("chat", "mail", "pager", users=[person], routing="preferred", critical=True)
    event("alarm")
    assert channels == [("chat", "ann-chat", "alarm")]


# -- quiet hours ---------------------------------------------------------------------------------


def test_quiet_hours_across_time_zones(
    flow: Any, person: Any, django_user_model: Any, clock: Any, channels: list
) -> None:
    """At 21:30 UTC it is 22:30 in Berlin (quiet), 06:30 the next day in Tokyo (quiet) and
    16:30 in New York (not quiet): the same 22:00-07:00 holds two of three messages."""
    zones = {"ann": "Europe/Berlin", "kenji": "Asia/Tokyo", "nora": "America/New_York"}
    people = [person] + [django_user_model.objects.create_user(n) for n in ("kenji", "nora")]
    for user in people:
        Address.objects.get_or_create(user=user, messenger="chat", defaults={"address": f"{user.username}-chat"})
        DeliveryPreference.objects.create(
            user=user, quiet_start=time(22), quiet_end=time(7), time_zone=zones[user.username]
        )
    flow("chat", users=people, respect_quiet_hours=True)
    clock.now = datetime(2026, 12, 6, 21, 30, tzinfo=UTC)
    event("news")
    assert channels == [("chat", "nora-chat", "news")]
    held = dict(Delivery.objects.filter(status="pending").values_list("address", "next_attempt_at"))
    assert held == {
        "ann-chat": datetime(2026, 12, 7, 6, 0, tzinfo=UTC),  # 07:00 in Berlin
        "kenji-chat": datetime(2026, 12, 6, 22, 0, tzinfo=UTC),  # 07:00 in Tokyo
    }
    clock.now = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
    drain(None)
    assert channels[-1] == ("chat", "kenji-chat", "news") and len(channels) == 2


def test_critical_messages_ignore_quiet_hours(flow: Any, person: Any, clock: Any, channels: list) -> None:
    DeliveryPreference.objects.create(user=person, quiet_start=time(0), quiet_end=time(23, 59), time_zone="UTC")
    flow("chat", users=[person], critical=True, respect_quiet_hours=True)
    event("alarm")
    assert channels == [("chat", "ann-chat", "alarm")]


def test_a_digest_due_in_quiet_hours_waits_for_their_end(flow: Any, person: Any, clock: Any) -> None:
    DeliveryPreference.objects.create(user=person, quiet_start=time(12, 5), quiet_end=time(13), time_zone="UTC")
    flow("chat", users=[person], digest="window", digest_minutes=10)
    event("a")  # 12:00; the window would close at 12:10, inside quiet hours
    assert Digest.objects.get().due_at == datetime(2026, 12, 6, 13, 0, tzinfo=UTC)


def test_quiet_hours_need_both_ends_and_a_real_zone(person: Any) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        DeliveryPreference(user=person, quiet_start=time(22)).full_clean()
    with pytest.raises(ValidationError) as info:
        DeliveryPreference(user=person, time_zone="Mars/Olympus").full_clean()
    assert "time_zone" in info.value.message_dict


# -- no policy, no cost --------------------------------------------------------------------------


def test_without_a_policy_fan_out_touches_no_orchestration_table(flow: Any, person: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dsn_core.fanout import fan_out
    from tests.testapp.models import Article

    flow("chat", users=[person])
    Article.objects.create(title="plain")
    from dsn_core.models import Notification

    with CaptureQueriesContext(connection) as ctx:
        assert fan_out(Notification.objects.get().pk) == 1
    tables = ("dsn_core_digest", "dsn_core_throttlecount", "dsn_core_deliverypreference", "dsn_core_fallbackstep")
    assert not [q["sql"] for q in ctx.captured_queries if any(t in q["sql"] for t in tables)]
    assert SubscriptionPolicy.objects.count() == 0 and Delivery.objects.get().status == "sent"


def test_a_repeated_fan_out_counts_an_event_once(flow: Any, person: Any, channels: list) -> None:
    """Two pumps may fan out the same event: its throttle answer is kept, not taken again."""
    from dsn_core.fanout import fan_out
    from dsn_core.models import Notification, ThrottleCount

    flow("chat", users=[person], throttle_limit=2)
    event("a")
    first = Notification.objects.get()
    for _ in range(3):
        Notification.objects.filter(pk=first.pk).update(fanned_out_at=None)
        fan_out(first.pk)
    event("b")
    assert ThrottleCount.objects.get().count == 2
    assert [text for _, _, text in channels] == ["a", "b"]
