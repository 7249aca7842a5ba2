"""Plain successes of a provider that deduplicates are recorded on a thread of their own
(``sending.Recorder``) while the worker renders its next batch: on PostgreSQL, outside any
transaction, when nobody listens to ``delivery_finished``."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from dsn_core import sending, signals
from dsn_core.builtins import LocmemMessenger
from dsn_core.messengers import Message
from dsn_core.models import Delivery, Notification
from dsn_core.sending import drain
from tests.testapp.models import Article

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: elsewhere outcomes are recorded in the worker's own thread",
    ),
]


@pytest.fixture
def backend_id(make_flow: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """250 pending deliveries of a provider that deduplicates, sent in batches of 100."""
    monkeypatch.setattr(LocmemMessenger, "deduplicates", True)
    monkeypatch.setattr(LocmemMessenger, "max_batch_size", 100)
    subscription = make_flow(Article)
    backend = subscription.backends.get()
    notification = Notification.objects.create(trigger=subscription.trigger, trigger_name="t", verb="post_save")
    Delivery.objects.bulk_create(
        Delivery(
            notification=notification, subscription=subscription, backend=backend, messenger="locmem", address=f"a{i}"
        )
        for i in range(250)
    )
    return backend.pk


def sent_updates(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE") and "'sent'" in q["sql"]]


def test_successes_are_recorded_on_the_recorders_connection(backend_id: Any, dsn_outbox: list[Message]) -> None:
    with CaptureQueriesContext(connection) as ctx:
        counts = drain(backend_id)
    assert counts["sent"] == 250 and len(dsn_outbox) == 250
    assert Delivery.objects.filter(status="sent").count() == 250, "every record done when the drain returns"
    assert set(Delivery.objects.values_list("claim", flat=True)) == {""}
    assert sent_updates(ctx) == [], "the worker's own connection recorded nothing"


def test_inside_a_transaction_the_worker_records_itself(backend_id: Any, dsn_outbox: list[Message]) -> None:
    """Another connection would not see rows the transaction has not committed."""
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        drain(backend_id)
        assert Delivery.objects.filter(status="sent").count() == 250
    assert len(sent_updates(ctx)) == 3


def test_with_a_listener_the_worker_records_and_announces_itself(backend_id: Any) -> None:
    threads: set[str] = set()

    def listener(sender: Any, delivery: Delivery, status: str, **kwargs: Any) -> None:
        threads.add(threading.current_thread().name)

    signals.delivery_finished.connect(listener, sender=Delivery)
    try:
        drain(backend_id)
    finally:
        signals.delivery_finished.disconnect(listener, sender=Delivery)
    assert threads == {threading.current_thread().name}
    assert Delivery.objects.filter(status="sent").count() == 250


def test_an_error_while_recording_reaches_the_worker(backend_id: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The drain fails as it would had it recorded itself; the rows stay claimed until their
    lease runs out, then are sent again (the provider deduplicates)."""

    def broken(*args: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(sending, "_record_sent", broken)
    with pytest.raises(RuntimeError, match="went away"):
        drain(backend_id)
    assert Delivery.objects.filter(status="sent").count() == 0
    # The batch whose record failed and the one sent meanwhile; the error stopped the third.
    assert Delivery.objects.filter(status="sending").count() == 200
