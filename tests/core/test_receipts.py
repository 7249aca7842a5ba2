"""Delivery receipts: the core API channel plugins use to record a provider's later report."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection

from dsn_core import hookimpl
from dsn_core.addresses import get_address, set_address
from dsn_core.models import Backend, Delivery, MessageTemplate, Notification, OptOut
from dsn_core.receipts import find_delivery, record_receipt
from dsn_core.signals import delivery_receipt

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(django_user_model: Any) -> Delivery:
    user = django_user_model.objects.create_user("ann")
    set_address(user, "locmem", "ann@chat")
    backend = Backend.objects.create(
        name="b", messenger="locmem", template=MessageTemplate.objects.create(name="t", text="hi")
    )
    notification = Notification.objects.create(trigger_name="t", verb="post_save")
    return Delivery.objects.create(
        notification=notification,
        backend=backend,
        messenger="locmem",
        address="ann@chat",
        recipient=user,
        status="sent",
        provider_id="p-1",
    )


def test_a_receipt_is_stored_and_announced_after_commit(
    sent: Delivery, dsn_plugin: Any, django_capture_on_commit_callbacks: Any
) -> None:
    heard: list[tuple[str, Any, str, str]] = []

    class Observer:
        @hookimpl
        def delivery_receipt(self, delivery: Delivery, receipt: str, detail: str) -> None:
            heard.append(("hook", delivery.pk, receipt, detail))

    def receiver(sender: Any, delivery: Delivery, receipt: str, detail: str, **kwargs: Any) -> None:
        heard.append(("signal", delivery.pk, receipt, detail))

    dsn_plugin("observer", Observer())
    delivery_receipt.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            when = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
            found = record_receipt("locmem", "delivered", provider_id="p-1", detail="ok", at=when)
            assert heard == []  # nothing before the commit
        for callback in callbacks:
            callback()
    finally:
        delivery_receipt.disconnect(receiver)
    assert found is not None and found.pk == sent.pk
    sent.refresh_from_db()
    assert (sent.status, sent.receipt, sent.receipt_detail, sent.receipt_at) == ("sent", "delivered", "ok", when)
    assert heard == [("hook", sent.pk, "delivered", "ok"), ("signal", sent.pk, "delivered", "ok")]


def test_an_observer_that_raises_is_logged_not_raised(
    sent: Delivery, dsn_plugin: Any, caplog: Any, django_capture_on_commit_callbacks: Any
) -> None:
    class Broken:
        @hookimpl
        def delivery_receipt(self) -> None:
            raise RuntimeError("observer bug")

    dsn_plugin("broken", Broken())
    with django_capture_on_commit_callbacks(execute=True):
        assert record_receipt("locmem", "bounced", provider_id="p-1") is not None
    assert "observer bug" in caplog.text
    sent.refresh_from_db()
    assert sent.receipt == "bounced"


@pytest.mark.parametrize(
    ("first", "then", "kept"),
    [
        ("undelivered", "delivered", "undelivered"),  # out of order: the failure stands
        ("bounced", "delivered", "bounced"),
        ("delivered", "bounced", "bounced"),  # an asynchronous bounce after "delivered" wins
        ("complained", "bounced", "complained"),
        ("bounced", "undelivered", "undelivered"),  # same rank: the newer report
    ],
)
def test_weaker_reports_never_replace_stronger_ones(sent: Delivery, first: str, then: str, kept: str) -> None:
    record_receipt("locmem", first, provider_id="p-1")
    record_receipt("locmem", then, provider_id="p-1")
    sent.refresh_from_db()
    assert sent.receipt == kept


def test_found_by_delivery_id_from_metadata_or_by_provider_id(sent: Delivery) -> None:
    assert find_delivery("locmem", delivery_id=str(sent.pk)) == sent
    assert find_delivery("locmem", provider_id="p-1") == sent
    assert find_delivery("locmem", delivery_id=sent.pk, provider_id="p-1") == sent
    # a delivery id whose provider id disagrees is not trusted; the provider id decides
    assert find_delivery("locmem", delivery_id=sent.pk, provider_id="p-2") is None
    assert find_delivery("locmem", delivery_id="not-a-number", provider_id="p-1") == sent
    assert find_delivery("sms", provider_id="p-1") is None  # another messenger's ids are another namespace
    assert find_delivery("locmem") is None


def test_unknown_messages_are_ignored(sent: Delivery, caplog: Any) -> None:
    caplog.set_level(logging.INFO, "dsn_core.receipts")
    assert record_receipt("locmem", "bounced", provider_id="nope", deactivate_address=True) is None
    sent.refresh_from_db()
    assert sent.receipt == ""
    assert get_address(sent.recipient, "locmem") == "ann@chat"
    assert "unknown message" in caplog.text


def test_an_unknown_receipt_is_a_clear_error(sent: Delivery) -> None:
    with pytest.raises(ValueError, match="unknown receipt 'read'; expected one of delivered, undelivered"):
        record_receipt("locmem", "read", provider_id="p-1")


def test_a_dead_address_is_deactivated_and_a_complaint_opts_out(sent: Delivery) -> None:
    record_receipt("locmem", "bounced", provider_id="p-1", deactivate_address=True)
    assert get_address(sent.recipient, "locmem") is None
    record_receipt("locmem", "complained", provider_id="p-1", opt_out=True)
    record_receipt("locmem", "complained", provider_id="p-1", opt_out=True)  # idempotent
    assert list(OptOut.objects.values_list("user_id", "messenger", "subscription")) == [
        (sent.recipient_id, "locmem", None)
    ]


def test_the_lookup_uses_the_partial_provider_index(sent: Delivery) -> None:
    """Receipts arrive for old deliveries too: the lookup must not scan the table."""
    query = (
        Delivery.objects.filter(messenger="locmem")
        .exclude(provider_id="")
        .filter(provider_id="p-1")
        .order_by("-pk")
        .query
    )
    sql, params = query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(str(row) for row in cursor.fetchall())
            assert "dsn_delivery_provider" in plan
        elif connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "dsn_delivery_provider" in plan
