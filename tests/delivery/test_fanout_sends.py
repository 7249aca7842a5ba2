"""A fan-out task sends the first chunk of each backend itself: those deliveries are written
already claimed (no send task, no second write to take them), and the rest is left to send
tasks enqueued before the fan-out starts sending (``DSN["SEND_FROM_FANOUT"]``)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dsn_core.builtins import LocmemMessenger
from dsn_core.compat import task_backends
from dsn_core.fanout import insert_deliveries
from dsn_core.messengers import Message
from dsn_core.models import Delivery, Notification, OptOut
from dsn_core.sending import Written, claim, send_written
from dsn_core.tasks import _Watch, fan_out_task
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(settings: Any) -> Any:
    """Enqueued tasks are kept, not run (a backend that can defer work, as a real queue)."""
    backend = "django.tasks" if "django.tasks" in settings.TASKS["default"]["BACKEND"] else "django_tasks"
    settings.TASKS = {"default": {"BACKEND": f"{backend}.backends.dummy.DummyBackend"}}
    _Watch.scheduled.clear()  # a watch this process scheduled in another test is not this one's
    yield task_backends["default"]
    _Watch.scheduled.clear()


def senders(queue: Any) -> list[tuple[Any, ...]]:
    """Send tasks enqueued for pending work (watches, which carry two arguments, aside)."""
    return [tuple(r.args) for r in queue.results if r.task.name == "send_task" and len(r.args) == 3]


def watches(queue: Any) -> list[Any]:
    return [r for r in queue.results if r.task.name == "send_task" and len(r.args) == 2]


@pytest.fixture
def event(make_flow: Any, django_user_model: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A subscription reaching eight users (u0..u7) through a provider that deduplicates, and a
    notification not fanned out yet."""
    monkeypatch.setattr(LocmemMessenger, "deduplicates", True)
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(8)]
    subscription = make_flow(Article, users=users)
    notification = Notification.objects.create(
        trigger=subscription.trigger, trigger_name="t", verb="post_save", context={}
    )
    return subscription, notification


def test_a_small_fan_out_sends_everything_itself(event: Any, queue: Any, dsn_outbox: list[Message]) -> None:
    _, notification = event
    created = fan_out_task.call(notification.pk)
    assert created == 8
    assert sorted(m.address for m in dsn_outbox) == [f"u{i}" for i in range(8)]
    rows = list(Delivery.objects.values_list("status", "attempts", "claim", "lease_until"))
    assert rows == [("sent", 1, "", None)] * 8, "one attempt each, recorded like any claimed delivery"
    assert senders(queue) == [], "nothing was left for a send task"


def test_the_receivers_it_sends_to_are_read_once(
    event: Any, queue: Any, dsn_outbox: list[Message], django_user_model: Any
) -> None:
    """Fan-out loads the receivers of the chunk it sends whole, and sending renders with those
    same users: the user table is read once, not again for the messages."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _, notification = event
    table = django_user_model._meta.db_table
    with CaptureQueriesContext(connection) as ctx:
        fan_out_task.call(notification.pk)
    loads = [q["sql"] for q in ctx.captured_queries if f'FROM "{table}" WHERE "{table}"."id" IN' in q["sql"]]
    assert len(loads) == 1, loads  # (who the receivers are is another query: their ids only)
    assert sorted(m.recipient.username for m in dsn_outbox) == [f"u{i}" for i in range(8)]


def test_the_rest_of_a_large_fan_out_goes_to_a_send_task(
    event: Any, queue: Any, settings: Any, dsn_outbox: list[Message]
) -> None:
    settings.DSN = {**settings.DSN, "FANOUT_CHUNK": 3}
    subscription, notification = event
    backend = subscription.backends.get()
    assert fan_out_task.call(notification.pk) == 8
    assert sorted(m.address for m in dsn_outbox) == ["u0", "u1", "u2"], "the first chunk, sent by the fan-out"
    left = Delivery.objects.filter(status="pending")
    assert sorted(left.values_list("address", flat=True)) == ["u3", "u4", "u5", "u6", "u7"]
    assert set(left.values_list("attempts", flat=True)) == {0}
    assert senders(queue) == [(backend.pk, notification.pk, 0)], "one sender for the five others"


def test_one_message_per_call_goes_to_send_tasks(
    event: Any, queue: Any, monkeypatch: pytest.MonkeyPatch, dsn_outbox: list[Message]
) -> None:
    """A provider without idempotency keys is a round trip per message: its first chunk is not
    sent by one task but by send tasks, whose helpers spread it over the workers."""
    monkeypatch.setattr(LocmemMessenger, "deduplicates", False)
    subscription, notification = event
    fan_out_task.call(notification.pk)
    assert dsn_outbox == []
    assert set(Delivery.objects.values_list("status", "attempts")) == {("pending", 0)}
    assert senders(queue) == [(subscription.backends.get().pk, notification.pk, 0)]


def test_turned_off_every_delivery_waits_for_a_send_task(
    event: Any, queue: Any, settings: Any, dsn_outbox: list[Message]
) -> None:
    settings.DSN = {**settings.DSN, "SEND_FROM_FANOUT": False}
    subscription, notification = event
    fan_out_task.call(notification.pk)
    assert dsn_outbox == []
    assert set(Delivery.objects.values_list("status", "attempts")) == {("pending", 0)}
    assert senders(queue) == [(subscription.backends.get().pk, notification.pk, 0)]
    assert watches(queue) == []


def test_skipped_rows_are_written_as_before_not_claimed(event: Any, queue: Any, dsn_outbox: list[Message]) -> None:
    subscription, notification = event
    opted = subscription.receiver_users.get(username="u3")
    OptOut.objects.create(user=opted, messenger="locmem")
    fan_out_task.call(notification.pk)
    assert len(dsn_outbox) == 7
    skipped = Delivery.objects.get(recipient=opted)
    assert (skipped.status, skipped.attempts, skipped.claim) == ("skipped", 0, "")


def test_a_watch_is_scheduled_for_when_the_lease_of_the_written_rows_runs_out(
    event: Any, queue: Any, settings: Any
) -> None:
    """If the worker dies while it sends them, another worker takes them when their lease ends."""
    settings.DSN = {**settings.DSN, "LEASE_SECONDS": 120}
    subscription, notification = event
    before = timezone.now()
    fan_out_task.call(notification.pk)
    [watch] = watches(queue)
    assert tuple(watch.args) == (subscription.backends.get().pk, None)
    assert before + timedelta(seconds=120) < watch.task.run_after < timezone.now() + timedelta(seconds=122)


def written(subscription: Any, notification: Any, lease: timedelta, count: int = 3) -> Written:
    """``count`` deliveries written already claimed under a fresh token, with ``lease`` left."""
    backend = subscription.backends.get()
    token, until = uuid.uuid4().hex, timezone.now() + lease
    rows = [(None, f"w{i}", "pending", "") for i in range(count)]
    now = insert_deliveries(notification, subscription, backend, rows, claim=(token, until))
    return Written(notification.pk, subscription.pk, backend.pk, "locmem", token, until, now, time.monotonic())


def test_rows_written_claimed_are_taken_by_a_claim_only_once_their_lease_ran_out(event: Any) -> None:
    subscription, notification = event
    backend_id = written(subscription, notification, timedelta(minutes=5)).backend_id
    assert claim(backend_id, None, 100) == [], "held: their writer is sending them"
    Delivery.objects.update(lease_until=timezone.now() - timedelta(seconds=1))  # the writer died
    taken = claim(backend_id, None, 100)
    assert sorted(d.address for d in taken) == ["w0", "w1", "w2"]
    assert {d.attempts for d in taken} == {2}, "the lost attempt counts"


def test_a_row_another_worker_took_is_not_sent_by_its_writer(event: Any, dsn_outbox: list[Message]) -> None:
    subscription, notification = event
    rows = written(subscription, notification, timedelta(minutes=5))
    Delivery.objects.filter(address="w1").update(claim="another-worker")  # its lease ran out and it was taken
    counts = send_written(rows)
    assert counts["sent"] == 2
    assert sorted(m.address for m in dsn_outbox) == ["w0", "w2"]
    assert Delivery.objects.get(address="w1").status == "sending", "left to the worker that holds it"


def test_written_rows_past_a_third_of_their_lease_are_renewed_before_sending(
    event: Any, settings: Any, dsn_outbox: list[Message]
) -> None:
    """The writer checks its claim before sending rows written long ago, as a drain does."""
    subscription, notification = event
    rows = written(subscription, notification, timedelta(minutes=5))
    long_ago = time.monotonic() - float(settings.DSN.get("LEASE_SECONDS", 300))
    Delivery.objects.filter(address="w2").update(claim="another-worker")
    send_written(dataclasses.replace(rows, claimed_at=long_ago))
    assert sorted(m.address for m in dsn_outbox) == ["w0", "w1"]


def test_deliveries_read_back_hold_what_the_database_holds(event: Any) -> None:
    """Only ids, recipients and addresses are read back; the rest must equal the stored rows."""
    subscription, notification = event
    rows = written(subscription, notification, timedelta(minutes=5))
    fields = [f.attname for f in Delivery._meta.concrete_fields]
    built = {d.pk: [getattr(d, name) for name in fields] for d in rows.deliveries()}
    stored = {d.pk: [getattr(d, name) for name in fields] for d in Delivery.objects.all()}
    assert built == stored and len(built) == 3
