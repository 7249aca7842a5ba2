"""Sending: claims, outcomes, retries with backoff, giving up, and messengers that vanish."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from dsn_core import hookimpl, signals
from dsn_core.errors import TransientError
from dsn_core.messengers import Message, Messenger, SendResult
from dsn_core.models import Backend, Delivery, Notification
from dsn_core.sending import backoff, claim, drain, send_claimed
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw")


@pytest.fixture
def dead_events() -> Iterator[list[int]]:
    """Delivery ids announced by the ``delivery_dead`` signal."""
    seen: list[int] = []

    def receiver(sender: Any, delivery: Any, **kwargs: Any) -> None:
        seen.append(delivery.pk)

    signals.delivery_dead.connect(receiver, weak=False)
    yield seen
    signals.delivery_dead.disconnect(receiver)


class DeadObserver:
    """A plugin observing deliveries that gave up."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []

    @hookimpl
    def delivery_dead(self, delivery: Any) -> None:
        self.seen.append((delivery.pk, delivery.status))


def _event(make_flow: Any, capture: Any, user: Any, **flow: Any) -> Delivery:
    """Save an article through a flow to ``user`` and run the on-commit fan-out and send."""
    make_flow(Article, users=[user], **flow)
    with capture(execute=True):
        Article.objects.create(title="Hello")
    return Delivery.objects.get()


def _retry_now() -> dict[str, int]:
    """Make every retry due and send once: one claim, so a retry whose jittered delay comes
    due within milliseconds is not taken a second time by the same drain."""
    Delivery.objects.update(next_attempt_at=None)
    return drain(None, max_batches=1)


# -- outcomes -----------------------------------------------------------------------------


def test_sent(make_flow: Any, user: Any, dsn_outbox: list[Message], django_capture_on_commit_callbacks: Any) -> None:
    delivery = _event(make_flow, django_capture_on_commit_callbacks, user)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, "")
    assert delivery.provider_id == "locmem-1" and delivery.sent_at is not None
    assert (delivery.claim, delivery.lease_until) == ("", None)
    assert dsn_outbox[0].delivery_id == delivery.pk


def test_transient_error_schedules_a_retry(
    make_flow: Any, user: Any, dsn_outbox: list[Message], django_capture_on_commit_callbacks: Any
) -> None:
    before = timezone.now()
    delivery = _event(make_flow, django_capture_on_commit_callbacks, user, options={"fail": "transient"})
    assert delivery.status == "failed"
    assert delivery.attempts == 1
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at > before
    assert "asked to fail (transient)" in delivery.last_error
    assert (delivery.claim, delivery.lease_until) == ("", None)
    assert dsn_outbox == []
    # Full jitter may pick a delay near zero; pin it in the future to check "not due yet".
    Delivery.objects.update(next_attempt_at=timezone.now() + timedelta(hours=1))
    assert drain(None) == {"sent": 0, "failed": 0, "dead": 0, "lost": 0}  # not due yet


def test_gives_up_after_max_attempts(
    make_flow: Any,
    user: Any,
    settings: Any,
    dsn_plugin: Any,
    dead_events: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.DSN = {**settings.DSN, "MAX_ATTEMPTS": 3, "RETRY_FOR": 0}  # attempts alone decide
    observer = DeadObserver()
    dsn_plugin("dead-observer", observer)
    delivery = _event(make_flow, django_capture_on_commit_callbacks, user, options={"fail": "transient"})
    assert delivery.attempts == 1
    assert _retry_now() == {"sent": 0, "failed": 1, "dead": 0, "lost": 0}
    assert dead_events == [] and observer.seen == []
    assert _retry_now() == {"sent": 0, "failed": 0, "dead": 1, "lost": 0}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("dead", 3)
    assert delivery.last_error.startswith("gave up after 3 attempts")
    assert dead_events == [delivery.pk]
    assert observer.seen == [(delivery.pk, "dead")]
    assert _retry_now() == {"sent": 0, "failed": 0, "dead": 0, "lost": 0}  # dead stays dead
    assert dead_events == [delivery.pk] and len(observer.seen) == 1


def test_permanent_error_is_dead_at_once(
    make_flow: Any, user: Any, dsn_plugin: Any, dead_events: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    observer = DeadObserver()
    dsn_plugin("dead-observer", observer)
    delivery = _event(make_flow, django_capture_on_commit_callbacks, user, options={"fail": "permanent"})
    assert (delivery.status, delivery.attempts) == ("dead", 1)
    assert delivery.last_error == "locmem: asked to fail (permanent)"
    assert delivery.next_attempt_at is None
    assert dead_events == [delivery.pk] and observer.seen == [(delivery.pk, "dead")]


def test_finished_signal_reports_every_attempt(
    make_flow: Any, user: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.DSN = {**settings.DSN, "MAX_ATTEMPTS": 2, "RETRY_FOR": 0}
    seen: list[tuple[str, str]] = []

    def receiver(sender: Any, delivery: Any, status: str, error: str, **kwargs: Any) -> None:
        seen.append((status, error))

    signals.delivery_finished.connect(receiver, weak=False)
    try:
        _event(make_flow, django_capture_on_commit_callbacks, user, options={"fail": "transient"})
        _retry_now()
    finally:
        signals.delivery_finished.disconnect(receiver)
    assert [s for s, _ in seen] == ["failed", "dead"]
    assert all("asked to fail" in e for _, e in seen)


class Scripted(Messenger):
    """A messenger whose outcomes the test decides."""

    key = "scripted"
    label = "Scripted (tests)"
    sent: list[Message] = []
    behaviour: str = "ok"

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return {u.pk: f"scripted:{u.get_username()}" for u in users}

    def open(self) -> None:
        if self.behaviour == "open fails":
            raise ConnectionError("cannot connect")

    def send_batch(self, messages: Any) -> list[Any]:
        if self.behaviour == "crash":
            raise RuntimeError("library bug")
        if self.behaviour == "short":
            return []
        if self.behaviour == "slow down":
            return [TransientError("429", retry_after=600) for _ in messages]
        self.sent.extend(messages)
        return [SendResult(provider_id=f"p{m.delivery_id}") for m in messages]


class ScriptedPlugin:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        register(Scripted)


@pytest.fixture
def scripted(dsn_plugin: Any) -> Iterator[type[Scripted]]:
    Scripted.sent = []
    Scripted.behaviour = "ok"
    dsn_plugin("scripted-tests", ScriptedPlugin())
    yield Scripted
    Scripted.behaviour = "ok"


def test_retry_after_is_honoured(
    make_flow: Any, user: Any, scripted: Any, django_capture_on_commit_callbacks: Any
) -> None:
    scripted.behaviour = "slow down"
    before = timezone.now()
    delivery = _event(make_flow, django_capture_on_commit_callbacks, user, messenger="scripted")
    assert delivery.status == "failed"
    assert delivery.next_attempt_at >= before + timedelta(seconds=600)


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("crash", "RuntimeError: library bug"),
        ("short", "returned 0 outcomes for 1 messages"),
        ("open fails", "ConnectionError: cannot connect"),
    ],
)
def test_misbehaving_messenger_is_a_transient_failure(
    make_flow: Any, user: Any, scripted: Any, behaviour: str, error: str, django_capture_on_commit_callbacks: Any
) -> None:
    scripted.behaviour = behaviour
    delivery = _event(make_flow, django_capture_on_commit_callbacks, user, messenger="scripted")
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert error in delivery.last_error
    scripted.behaviour = "ok"
    assert _retry_now()["sent"] == 1


def test_template_failing_at_render_time_is_dead(
    make_flow: Any, user: Any, dsn_outbox: list[Message], django_capture_on_commit_callbacks: Any
) -> None:
    delivery = _event(
        make_flow, django_capture_on_commit_callbacks, user, text="{% for c in instance.pk %}{{ c }}{% endfor %}"
    )
    assert delivery.status == "dead"
    assert delivery.last_error.startswith("template error")
    assert dsn_outbox == []


def test_bad_backend_options_fail_that_backend_only(
    make_flow: Any, user: Any, dsn_outbox: list[Message], django_capture_on_commit_callbacks: Any
) -> None:
    subscription = make_flow(Article, users=[user])
    good = subscription.backends.get()
    # Saved around Backend.clean() (the shell, a data migration, an option removed in a plugin upgrade).
    bad = Backend.objects.create(name="bad", messenger="locmem", template=good.template, options={"fail": "often"})
    subscription.backends.add(bad)
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hello")
    assert Notification.objects.get().fanned_out_at is not None
    assert Delivery.objects.get(backend=good).status == "sent"
    failed = Delivery.objects.get(backend=bad)
    assert failed.status == "failed" and "bad options for locmem" in failed.last_error
    assert len(dsn_outbox) == 1


# -- a messenger that is not installed ----------------------------------------------------


class Late(Messenger):
    """A messenger whose plugin is installed after the event ("nope")."""

    key = "nope"
    label = "Installed late (tests)"
    sent: list[Message] = []

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return {u.pk: f"late:{u.get_username()}" for u in users}

    def send(self, message: Message) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_id="late-1")


class LatePlugin:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        register(Late)


def test_messenger_not_installed_then_installed(
    make_flow: Any, user: Any, dsn_plugin: Any, django_capture_on_commit_callbacks: Any
) -> None:
    Late.sent = []
    delivery = _event(make_flow, django_capture_on_commit_callbacks, user, messenger="nope")
    assert delivery.status == "failed"
    assert "not installed" in delivery.last_error
    assert delivery.recipient == user

    dsn_plugin("late-tests", LatePlugin())
    assert _retry_now()["sent"] == 1
    delivery.refresh_from_db()
    # Waiting for the plugin did not count as an attempt.
    assert (delivery.status, delivery.attempts, delivery.provider_id) == ("sent", 1, "late-1")
    assert len(Late.sent) == 1 and Late.sent[0].recipient == user


def test_messenger_installed_late_sends_to_the_users_address(
    make_flow: Any, user: Any, dsn_plugin: Any, django_capture_on_commit_callbacks: Any
) -> None:
    Late.sent = []
    _event(make_flow, django_capture_on_commit_callbacks, user, messenger="nope")
    dsn_plugin("late-tests", LatePlugin())
    _retry_now()
    assert [m.address for m in Late.sent] == ["late:alice"]


class Addressless(Late):
    """Installed late, and knows no address for anyone."""

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return {}


class AddresslessPlugin:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        register(Addressless)


def test_late_messenger_without_an_address_skips(
    make_flow: Any, user: Any, dsn_plugin: Any, django_capture_on_commit_callbacks: Any
) -> None:
    Late.sent = []
    _event(make_flow, django_capture_on_commit_callbacks, user, messenger="nope")
    dsn_plugin("addressless-tests", AddresslessPlugin())
    assert _retry_now() == {"sent": 0, "failed": 0, "dead": 0, "lost": 0}
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error, delivery.claim) == ("skipped", "no address on this channel", "")
    assert Late.sent == []


def test_late_address_equal_to_a_fixed_address_is_sent_once(
    make_flow: Any, user: Any, dsn_plugin: Any, django_capture_on_commit_callbacks: Any
) -> None:
    Late.sent = []
    make_flow(Article, users=[user], messenger="nope", fixed={"nope": ["late:alice"]})
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hello")
    assert Delivery.objects.count() == 2
    dsn_plugin("late-tests", LatePlugin())
    _retry_now()
    assert [m.address for m in Late.sent] == ["late:alice"]
    statuses = dict(Delivery.objects.values_list("recipient_id", "status"))
    assert statuses == {None: "sent", user.pk: "skipped"}


def test_fixing_bad_options_sends_to_the_real_address(
    make_flow: Any, user: Any, dsn_outbox: list[Message], django_capture_on_commit_callbacks: Any
) -> None:
    subscription = make_flow(Article, users=[user])
    Backend.objects.update(options={"fail": "often"})
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hello")
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and "bad options" in delivery.last_error
    Backend.objects.filter(pk=subscription.backends.get().pk).update(options={})
    assert _retry_now()["sent"] == 1
    assert [m.address for m in dsn_outbox] == ["alice"]
    assert Delivery.objects.get().address == "alice"


# -- claims -------------------------------------------------------------------------------


@pytest.fixture
def pending(make_flow: Any) -> list[Delivery]:
    """Five pending deliveries of one notification (made directly, nothing sent)."""
    subscription = make_flow(Article)
    backend = subscription.backends.get()
    notification = Notification.objects.create(
        trigger=subscription.trigger, trigger_name="t", verb="post_save", context={"verb": "post_save"}
    )
    return [
        Delivery.objects.create(
            notification=notification, subscription=subscription, backend=backend, messenger="locmem", address=f"a{i}"
        )
        for i in range(5)
    ]


def test_successive_claims_never_overlap(pending: list[Delivery]) -> None:
    first = claim(None, None, 2)
    second = claim(None, None, 2)
    third = claim(None, None, 2)
    assert [len(first), len(second), len(third)] == [2, 2, 1]
    ids = [d.pk for d in first + second + third]
    assert sorted(ids) == sorted(d.pk for d in pending)
    assert claim(None, None, 2) == []
    assert len({d.claim for d in first} | {d.claim for d in second}) == 2  # one token per claim
    assert all(d.status == "sending" and d.attempts == 1 and d.lease_until > timezone.now() for d in first)


def test_claim_takes_only_due_deliveries(pending: list[Delivery]) -> None:
    now = timezone.now()
    Delivery.objects.filter(pk=pending[0].pk).update(status="failed", next_attempt_at=now + timedelta(hours=1))
    Delivery.objects.filter(pk=pending[1].pk).update(status="failed", next_attempt_at=now - timedelta(seconds=1))
    for delivery, status in zip(pending[2:], ("sent", "dead", "skipped"), strict=True):
        Delivery.objects.filter(pk=delivery.pk).update(status=status)
    assert [d.pk for d in claim(None, None, 10)] == [pending[1].pk]


def test_claim_filters_by_backend_and_notification(pending: list[Delivery]) -> None:
    backend_id, notification_id = pending[0].backend_id, pending[0].notification_id
    assert claim(backend_id + 1000, None, 10) == []
    assert claim(None, notification_id + 1000, 10) == []
    assert len(claim(backend_id, notification_id, 10)) == 5


def test_outcome_is_not_recorded_without_the_claim(pending: list[Delivery], dsn_outbox: list[Message]) -> None:
    """A worker whose lease was taken over (the sweeper re-queued it) must not overwrite the new owner's state."""
    batch = claim(None, None, 1)
    # The worker stalled after claiming, longer than a lease: meanwhile another one took the row.
    batch[0]._dsn_claimed_at -= 300  # type: ignore[attr-defined]
    Delivery.objects.filter(pk=batch[0].pk).update(claim="someone-else")
    counts = send_claimed(batch)
    assert (counts["sent"], counts["lost"]) == (0, 1)  # the lease is checked right before sending ...
    assert dsn_outbox == []  # ... so the message did not go out twice
    row = Delivery.objects.get(pk=batch[0].pk)
    assert (row.status, row.claim) == ("sending", "someone-else")  # and the row stays the new owner's


def test_an_error_while_recording_stops_the_drain_and_loses_nothing(
    pending: list[Delivery], monkeypatch: pytest.MonkeyPatch, dsn_outbox: list[Message]
) -> None:
    """The database fails while an outcome is recorded: the drain raises in the worker and
    sends nothing more; the claimed batch stays claimed (taken again when its lease runs out:
    at most the one message sent is repeated) and the rest stays pending."""
    from dsn_core import sending
    from dsn_core.builtins import LocmemMessenger

    def broken(*args: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(sending, "_record_sent", broken)
    monkeypatch.setattr(LocmemMessenger, "max_batch_size", 2)
    with pytest.raises(RuntimeError, match="went away"):
        drain(pending[0].backend_id)  # claims max_batch_size (2) at a time
    assert len(dsn_outbox) == 1, "one message per call: the failed record stopped the next"
    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses == ["pending", "pending", "pending", "sending", "sending"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(os.environ.get("DSN_TEST_DB") != "postgres", reason="needs PostgreSQL row locks")
def test_concurrent_claims_never_overlap(make_flow: Any) -> None:
    subscription = make_flow(Article)
    backend = subscription.backends.get()
    notification = Notification.objects.create(trigger=subscription.trigger, trigger_name="t", verb="post_save")
    Delivery.objects.bulk_create(
        [Delivery(notification=notification, backend=backend, messenger="locmem", address=f"a{i}") for i in range(200)]
    )
    results: list[list[int]] = []
    sizes: list[int] = []  # a claim never takes more than it asked for, however many compete
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            mine: list[int] = []
            while batch := claim(None, None, 7):
                sizes.append(len(batch))
                mine.extend(d.pk for d in batch)
            results.append(mine)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert max(sizes) <= 7
    claimed = [pk for mine in results for pk in mine]
    assert len(claimed) == 200 and len(set(claimed)) == 200
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


# -- backoff ------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 8, 20])
def test_backoff_stays_within_bounds(attempt: int) -> None:
    base, cap = 10.0, 300.0
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delays = [backoff(attempt, base=base, cap=cap) for _ in range(500)]
    assert all(0 <= d <= ceiling for d in delays)
    assert max(delays) > ceiling / 2  # full jitter spreads over the whole range
    assert min(delays) < ceiling / 2


def test_backoff_honours_retry_after() -> None:
    assert all(backoff(1, base=1, cap=2, retry_after=30) >= 30 for _ in range(100))
    assert all(backoff(3, base=10, cap=50, retry_after=0) <= 40 for _ in range(100))


def test_backoff_reads_settings(settings: Any) -> None:
    settings.DSN = {**settings.DSN, "RETRY_BASE": 0.5, "RETRY_CAP": 1.0}
    assert all(0 <= backoff(10) <= 1.0 for _ in range(200))
