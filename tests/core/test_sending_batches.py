"""The worker's per-batch work: what a claim knows without reading back, what a drain loads
once, and announcements made only to those who listen."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dsn_core import signals
from dsn_core.builtins import LocmemMessenger
from dsn_core.messengers import Message
from dsn_core.models import Delivery, Notification
from dsn_core.sending import _listened, claim, drain, send_timeout
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(make_flow: Any) -> list[Delivery]:
    subscription = make_flow(Article)
    backend = subscription.backends.get()
    rows = []
    for n in range(2):
        notification = Notification.objects.create(
            trigger=subscription.trigger, trigger_name="t", verb="post_save", context={"verb": "post_save"}
        )
        rows += [
            Delivery.objects.create(
                notification=notification,
                subscription=subscription,
                backend=backend,
                messenger="locmem",
                address=f"n{n}-{i}",
            )
            for i in range(5)
        ]
    return rows


def test_a_claim_holds_the_values_it_wrote_without_reading_them_back(pending: list[Delivery]) -> None:
    batch = claim(None, None, 3)
    with CaptureQueriesContext(connection) as ctx:
        seen = [(d.status, d.claim, d.lease_until, d.updated_at, d.attempts) for d in batch]
    assert len(ctx.captured_queries) == 0  # nothing deferred is loaded on access
    stored = {d.pk: d for d in Delivery.objects.filter(pk__in=[d.pk for d in batch])}
    for delivery, values in zip(batch, seen, strict=True):
        row = stored[delivery.pk]
        assert values == (row.status, row.claim, row.lease_until, row.updated_at, row.attempts)
        assert values[0] == "sending" and values[1]
    assert batch[0].get_deferred_fields() == set()


def test_a_drain_loads_each_notification_and_backend_once(
    pending: list[Delivery], dsn_outbox: list[Message], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LocmemMessenger, "max_batch_size", 2)  # 10 deliveries: 5 batches
    with CaptureQueriesContext(connection) as ctx:
        counts = drain(pending[0].backend_id)
    assert counts["sent"] == 10 and len(dsn_outbox) == 10
    notification_reads = [q for q in ctx.captured_queries if 'FROM "dsn_core_notification"' in q["sql"]]
    backend_reads = [q for q in ctx.captured_queries if 'FROM "dsn_core_backend"' in q["sql"]]
    assert len(notification_reads) == 2  # one per notification, not one per batch of 2
    assert len(backend_reads) == 2  # drain's own look-up of the messenger, then one for the batches
    assert {m.metadata["notification"] for m in dsn_outbox} == {d.notification_id for d in pending}


def test_outcomes_reach_receivers_that_listen_and_cost_nothing_otherwise(
    pending: list[Delivery], dsn_outbox: list[Message]
) -> None:
    heard: list[tuple[int, str]] = []

    def receiver(sender: Any, delivery: Delivery, status: str, **kwargs: Any) -> None:
        heard.append((delivery.pk, status))

    signals.delivery_finished.connect(receiver, sender=Delivery)
    try:
        assert _listened("delivery_finished")
        drain(pending[0].backend_id)
    finally:
        signals.delivery_finished.disconnect(receiver, sender=Delivery)
    assert sorted(heard) == sorted((d.pk, "sent") for d in pending)


def test_locmem_calls_run_inline_without_a_deadline_thread() -> None:
    assert send_timeout(LocmemMessenger) is None  # send_timeout = 0: no deadline, no thread hop


def test_one_success_is_recorded_only_while_the_claim_is_ours(pending: list[Delivery]) -> None:
    from dsn_core.messengers import SendResult
    from dsn_core.sending import _record_batch, retry_policy

    mine, taken = claim(None, None, 2)
    Delivery.objects.filter(pk=taken.pk).update(claim="someone-else")  # another worker took it
    policy = retry_policy(None, LocmemMessenger)
    assert _record_batch([mine], [SendResult(provider_id="p1")], policy) == ["sent"]
    assert _record_batch([taken], [SendResult(provider_id="p2")], policy) == ["sent"]
    row = Delivery.objects.get(pk=mine.pk)
    assert (row.status, row.provider_id, row.claim, row.lease_until) == ("sent", "p1", "", None)
    assert row.sent_at == mine.sent_at and row.updated_at == mine.updated_at
    other = Delivery.objects.get(pk=taken.pk)
    assert (other.status, other.provider_id, other.claim) == ("sending", "", "someone-else")  # left alone
    assert taken.status == "sending"  # nor is the worker's copy marked sent


@pytest.mark.parametrize("ids", [("a", "", "c", "d"), ("", "", "", "")], ids=["provider ids", "no ids"])
def test_a_batch_is_recorded_with_one_statement_while_the_claim_is_ours(
    pending: list[Delivery], ids: tuple[str, ...]
) -> None:
    """Each row gets its own provider id (or ``''``) from one UPDATE; a row another worker took
    meanwhile is left alone."""
    from dsn_core.messengers import SendResult
    from dsn_core.sending import _record_batch, retry_policy

    batch = claim(None, None, 4)
    taken = batch[2]
    Delivery.objects.filter(pk=taken.pk).update(claim="someone-else")
    policy = retry_policy(None, LocmemMessenger)
    outcomes = [SendResult(provider_id=v) for v in ids]
    with CaptureQueriesContext(connection) as ctx:
        assert _record_batch(batch, outcomes, policy) == ["sent"] * 4
    updates = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    rows = {d.pk: (d.status, d.provider_id, d.claim) for d in Delivery.objects.filter(pk__in=[d.pk for d in batch])}
    expected = {d.pk: ("sent", v, "") for d, v in zip(batch, ids, strict=True)}
    expected[taken.pk] = ("sending", "", "someone-else")
    assert rows == expected
