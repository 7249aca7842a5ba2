"""``dsn_status``: the queue at a glance, and a non-zero exit when due work waits too long."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dsn_core.models import Backend, Delivery, MessageTemplate, Notification
from dsn_core.status import snapshot

pytestmark = pytest.mark.django_db
S = Delivery.Status


@pytest.fixture
def queue() -> None:
    now = timezone.now()
    backend = Backend.objects.create(
        name="b", messenger="locmem", template=MessageTemplate.objects.create(name="t", text="x")
    )
    done = Notification.objects.create(trigger_name="t", verb="post_save", fanned_out_at=now)
    rows = [
        (S.SENT, {}),
        (S.SENT, {}),
        (S.DEAD, {}),
        (S.SKIPPED, {}),
        (S.PENDING, {}),
        (S.FAILED, {"next_attempt_at": now - timedelta(seconds=30)}),  # due
        (S.FAILED, {"next_attempt_at": now + timedelta(hours=1)}),  # not due yet
    ]
    for i, (status, extra) in enumerate(rows):
        Delivery.objects.create(
            notification=done, backend=backend, messenger="locmem", address=f"a{i}", status=status, **extra
        )
    # a pending delivery whose row was last touched 10 minutes ago
    Delivery.objects.filter(status=S.PENDING).update(updated_at=now - timedelta(minutes=10))
    Notification.objects.create(trigger_name="t", verb="post_save", created_at=now - timedelta(seconds=5))


def test_snapshot(queue: None) -> None:
    state = snapshot()
    assert state["deliveries"] == {"pending": 1, "sending": 0, "sent": 2, "failed": 2, "dead": 1, "skipped": 1}
    assert state["waiting_by_messenger"] == {"locmem": {"pending": 1, "failed": 2}}
    assert (state["failed_due"], state["awaiting_fan_out"], state["dead_last_24h"]) == (1, 1, 1)
    assert 599 <= state["oldest_wait_seconds"] <= 660  # the pending delivery, 10 minutes


def test_an_empty_queue_has_waited_nothing() -> None:
    assert snapshot()["oldest_wait_seconds"] == 0.0


def test_text_json_and_the_health_check(queue: None) -> None:
    out = StringIO()
    call_command("dsn_status", stdout=out)
    text = out.getvalue()
    assert "deliveries: pending 1, sending 0, sent 2, failed 2, dead 1, skipped 1" in text
    assert "  locmem: failed 2, pending 1" in text
    out = StringIO()
    call_command("dsn_status", "--json", "--max-wait", "3600", stdout=out)
    assert json.loads(out.getvalue())["failed_due"] == 1
    with pytest.raises(CommandError, match=r"due work has waited 6\d\d(\.\d)? s \(more than 120 s\)"):
        call_command("dsn_status", "--max-wait", "120", stdout=StringIO())


def test_bad_input() -> None:
    with pytest.raises(CommandError, match="--max-wait must be zero or positive"):
        call_command("dsn_status", "--max-wait", "-5")
