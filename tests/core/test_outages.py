"""Provider outages on a simulated clock: "slow down" is not a failed attempt, and the retry
budget is a time budget too (``DSN["RETRY_FOR"]``), so outages of seconds or minutes kill nothing.

The clock is Django's ``timezone.now`` moved forward by the test (no sleeps); the messenger
answers like a provider in an outage — 503, or 429 with ``Retry-After: 1`` — until the
simulated outage ends, with the default retry settings (base 10 s, cap 1 h, 8 attempts).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db.models import Count
from django.utils import timezone

from dsn_core import hookimpl
from dsn_core.errors import TransientError
from dsn_core.messengers import Messenger, SendResult
from dsn_core.models import Delivery
from dsn_core.sending import drain
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db
S = Delivery.Status


class Clock:
    """A settable ``timezone.now``."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime:
        return self.now


class Outage(Messenger):
    """Down until ``Outage.until``: odd deliveries get 503, even ones 429 + Retry-After: 1."""

    key = "outage"
    label = "Provider with an outage (tests)"
    deduplicates = True  # whole batches per call: the test is about the retry policy
    clock: Clock
    until: datetime
    calls: list[tuple[int, bool]] = []

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return {u.pk: f"o:{u.pk}" for u in users}

    def send(self, message: Any) -> Any:
        down = self.clock() < self.until
        self.calls.append((message.delivery_id, down))
        if not down:
            return SendResult(f"ok-{message.delivery_id}")
        if message.delivery_id % 2:
            raise TransientError("provider: HTTP 503")
        raise TransientError("provider: too many requests", retry_after=1.0)


class OutagePlugin:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        register(Outage)


@pytest.fixture
def clock(monkeypatch: Any, dsn_plugin: Any) -> Clock:
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    Outage.clock, Outage.calls = clock, []
    dsn_plugin("outage-tests", OutagePlugin())
    return clock


def run_outage(
    clock: Clock,
    make_flow: Any,
    django_user_model: Any,
    capture: Any,
    outage: timedelta,
    users: int = 200,
    step: float = 1.0,
    horizon: timedelta = timedelta(days=3),
) -> dict[str, Any]:
    """Fire one event to ``users`` users during an outage of ``outage``; run workers on the
    simulated clock (every ``step`` seconds, skipping ahead when nothing is due) until every
    delivery is sent or dead. Returns what happened."""
    start = clock.now
    Outage.until = start + outage
    people = django_user_model.objects.bulk_create([django_user_model(username=f"o{i}") for i in range(users)])
    make_flow(Article, messenger="outage", users=people)
    with capture(execute=True):
        Article.objects.create(title="during the outage")  # fan-out and the first attempts, at once
    rounds = 0
    while Delivery.objects.filter(status__in=(S.PENDING, S.FAILED)).exists():
        rounds += 1
        assert clock.now - start < horizon, "the simulation never ended"
        due = (
            Delivery.objects.filter(status=S.FAILED)
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        clock.now = max(clock.now + timedelta(seconds=step), due or clock.now)
        drain(None)
    statuses = dict(Delivery.objects.values_list("status").annotate(n=Count("pk")))
    last = Delivery.objects.filter(status=S.SENT).order_by("-sent_at").values_list("sent_at", flat=True).first()
    return {
        "statuses": statuses,
        "rounds": rounds,
        "requests": len(Outage.calls),
        "max_attempts": max(Delivery.objects.values_list("attempts", flat=True)),
        "last_sent_after_outage": (last - Outage.until).total_seconds() if last else None,
        "dead_errors": list(Delivery.objects.filter(status=S.DEAD).values_list("last_error", flat=True)[:3]),
    }


@pytest.mark.parametrize("minutes", [pytest.param(0.5, id="30s"), pytest.param(10, id="10min", marks=pytest.mark.slow)])
def test_an_outage_kills_no_delivery(
    clock: Clock, make_flow: Any, django_user_model: Any, django_capture_on_commit_callbacks: Any, minutes: float
) -> None:
    outage = timedelta(minutes=minutes)
    result = run_outage(
        clock,
        make_flow,
        django_user_model,
        django_capture_on_commit_callbacks,
        outage,
        step=1.0 if minutes < 1 else 10.0,
    )
    print(
        f"{minutes:g} min outage, 200 deliveries: {result['statuses']}, {result['requests']} requests, "
        f"at most {result['max_attempts']} attempts counted, last one sent "
        f"{result['last_sent_after_outage']:.0f} s after the outage"
    )
    assert result["statuses"] == {S.SENT: 200}, result["dead_errors"]
    # The 429s were not counted: the even deliveries record only their last, successful attempt.
    even = [a for d, a in Delivery.objects.values_list("pk", "attempts") if d % 2 == 0]
    assert len(even) == 100 and set(even) == {1}
    # Every request during the outage was answered "down", and none was sent twice.
    assert sum(1 for _, down in Outage.calls if not down) == 200


def test_the_time_budget_ends_a_day_long_outage(
    clock: Clock, make_flow: Any, django_user_model: Any, django_capture_on_commit_callbacks: Any
) -> None:
    result = run_outage(
        clock,
        make_flow,
        django_user_model,
        django_capture_on_commit_callbacks,
        timedelta(hours=25),
        users=4,
        step=600.0,
    )
    # 503s: given up once both budgets are spent (8 attempts and 24 h) ...
    dead = Delivery.objects.filter(status=S.DEAD, attempts__gt=0)
    assert dead.count() == 2 and all(d.pk % 2 for d in dead)
    for delivery in dead:
        assert delivery.attempts >= 8
        assert delivery.updated_at - delivery.created_at >= timedelta(hours=24)
        assert delivery.last_error.startswith(f"gave up after {delivery.attempts} attempts in ")
        assert "provider: HTTP 503" in delivery.last_error
    # ... while a provider answering only "slow down" spent no attempt: the time budget ended it.
    slowed = Delivery.objects.filter(status=S.DEAD, attempts=0)
    assert slowed.count() == 2 and not any(d.pk % 2 for d in slowed)
    assert all("too many requests" in d.last_error for d in slowed)
    assert result["statuses"] == {S.DEAD: 4}
    print(f"25 h outage: {result['statuses']}, {result['requests']} requests")


def test_retry_for_zero_gives_up_on_attempts_alone(
    clock: Clock, make_flow: Any, django_user_model: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.DSN = {**settings.DSN, "RETRY_FOR": 0}
    result = run_outage(
        clock,
        make_flow,
        django_user_model,
        django_capture_on_commit_callbacks,
        timedelta(hours=25),
        users=2,
        step=600.0,
    )
    odd = Delivery.objects.get(pk__in=[d.pk for d in Delivery.objects.all() if d.pk % 2])
    assert (odd.status, odd.attempts) == (S.DEAD, 8)
    assert result["statuses"][S.DEAD] >= 1
