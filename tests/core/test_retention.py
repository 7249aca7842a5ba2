"""Retention: only finished notifications older than the cut-off go, with their deliveries."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dsn_core.models import Backend, Delivery, MessageTemplate, Notification
from dsn_core.retention import prune
from dsn_core.sweep import sweep

pytestmark = pytest.mark.django_db
S = Delivery.Status


@pytest.fixture
def backend() -> Backend:
    return Backend.objects.create(
        name="b", messenger="locmem", template=MessageTemplate.objects.create(name="t", text="x")
    )


def notification(
    backend: Backend, name: str, age_days: float, statuses: list[str], *, fanned_out: bool = True
) -> Notification:
    created = timezone.now() - timedelta(days=age_days)
    n = Notification.objects.create(
        trigger_name=name, verb="post_save", created_at=created, fanned_out_at=created if fanned_out else None
    )
    Delivery.objects.bulk_create(
        [
            Delivery(notification=n, backend=backend, messenger="locmem", address=f"{name}-{i}", status=status)
            for i, status in enumerate(statuses)
        ]
    )
    return n


@pytest.fixture
def history(backend: Backend) -> dict[str, Notification]:
    old_done = notification(backend, "old-done", 100, [S.SENT, S.DEAD, S.SKIPPED])
    original = old_done.deliveries.get(status=S.SENT)
    Delivery.objects.create(
        notification=old_done,
        backend=backend,
        messenger="locmem",
        address=original.address,
        status=S.SENT,
        resend_of=original,
    )
    return {
        "old-done": old_done,
        "old-retrying": notification(backend, "old-retrying", 100, [S.SENT, S.FAILED]),
        "old-pending": notification(backend, "old-pending", 100, [S.SENT, S.PENDING]),
        "old-sending": notification(backend, "old-sending", 100, [S.SENDING]),
        "old-not-fanned-out": notification(backend, "old-not-fanned-out", 100, [], fanned_out=False),
        "recent-done": notification(backend, "recent-done", 10, [S.SENT]),
    }


def remaining() -> list[str]:
    return sorted(Notification.objects.values_list("trigger_name", flat=True))


def test_only_finished_old_notifications_go_with_their_deliveries(history: dict[str, Notification]) -> None:
    assert prune(90) == {"notifications": 1, "deliveries": 4}  # 3 + the resend
    assert remaining() == ["old-not-fanned-out", "old-pending", "old-retrying", "old-sending", "recent-done"]
    assert not Delivery.objects.filter(notification_id=history["old-done"].pk).exists()
    assert Delivery.objects.count() == 6


def test_dry_run_counts_and_deletes_nothing(history: dict[str, Notification]) -> None:
    assert prune(90, dry_run=True) == {"notifications": 1, "deliveries": 4}
    assert prune(5, dry_run=True) == {"notifications": 2, "deliveries": 5}
    assert len(remaining()) == 6


def test_batches_and_a_bounded_number_of_them(backend: Backend) -> None:
    for i in range(5):
        notification(backend, f"n{i}", 100, [S.SENT])
    assert prune(90, batch=2, max_batches=1) == {"notifications": 2, "deliveries": 2}
    assert prune(90, batch=2) == {"notifications": 3, "deliveries": 3}
    assert remaining() == []


def test_deliveries_are_deleted_without_loading_them(backend: Backend) -> None:
    """Two notifications with 500 deliveries each: one DELETE for all their deliveries, and no
    delivery row is ever read into Python (the resend_of relation does not force it)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for name in ("a", "b"):
        notification(backend, name, 100, [S.SENT] * 500)
    with CaptureQueriesContext(connection) as ctx:
        assert prune(90) == {"notifications": 2, "deliveries": 1000}
    statements = [q["sql"] for q in ctx.captured_queries]
    assert sum(sql.startswith('DELETE FROM "dsn_core_delivery"') for sql in statements) == 1
    assert not [
        sql
        for sql in statements
        if sql.startswith("SELECT") and 'FROM "dsn_core_delivery"' in sql and "EXISTS" not in sql
    ]
    assert len(statements) <= 10


def test_the_sweeper_prunes_only_when_a_retention_is_set(settings: Any, history: dict[str, Notification]) -> None:
    assert sweep(enqueue=False)["pruned_notifications"] == 0
    assert len(remaining()) == 6
    settings.DSN = {**settings.DSN, "RETENTION_DAYS": 30}
    assert sweep(enqueue=False)["pruned_notifications"] == 1
    assert "old-done" not in remaining()


def test_the_command(settings: Any, history: dict[str, Notification]) -> None:
    with pytest.raises(CommandError, match=r"Give --days, or set DSN\['RETENTION_DAYS'\]"):
        call_command("dsn_prune")
    with pytest.raises(CommandError, match="--days must be zero or positive"):
        call_command("dsn_prune", "--days", "-1")
    out = StringIO()
    call_command("dsn_prune", "--days", "90", "--dry-run", stdout=out)
    assert out.getvalue().strip() == "would delete 1 notifications and 4 deliveries older than 90 days"
    settings.DSN = {**settings.DSN, "RETENTION_DAYS": 5}
    out = StringIO()
    call_command("dsn_prune", stdout=out)
    assert out.getvalue().strip() == "deleted 2 notifications and 5 deliveries older than 5 days"
