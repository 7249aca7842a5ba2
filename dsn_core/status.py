"""The state of DSN's queue, for people and monitors (``manage.py dsn_status``).

The number that says whether DSN is healthy is how long due work has been waiting: a
notification not yet fanned out, a pending delivery, a failed one whose retry is due. With
workers running it stays around a second; when workers are down or overloaded it grows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min
from django.utils import timezone

from .models import Delivery, Notification

S = Delivery.Status


def snapshot(now: datetime | None = None) -> dict[str, Any]:
    """Counts and waiting times, as plain data (JSON-ready)."""
    now = now or timezone.now()
    by_status = dict(Delivery.objects.order_by().values_list("status").annotate(n=Count("pk")))
    waiting = Delivery.objects.filter(status__in=(S.PENDING, S.SENDING, S.FAILED))
    per_messenger: dict[str, dict[str, int]] = {}
    for messenger, status, n in waiting.order_by().values_list("messenger", "status").annotate(n=Count("pk")):
        per_messenger.setdefault(messenger, {})[status] = n
    pending_since = Delivery.objects.filter(status=S.PENDING).aggregate(t=Min("updated_at"))["t"]
    due = Delivery.objects.filter(status=S.FAILED, next_attempt_at__lte=now).aggregate(
        n=Count("pk"), t=Min("next_attempt_at")
    )
    unfanned = Notification.objects.filter(fanned_out_at__isnull=True).aggregate(n=Count("pk"), t=Min("created_at"))
    starts = [t for t in (pending_since, due["t"], unfanned["t"]) if t is not None]
    return {
        "deliveries": {status.value: by_status.get(status.value, 0) for status in S},
        "waiting_by_messenger": per_messenger,
        "failed_due": due["n"],
        "awaiting_fan_out": unfanned["n"],
        "dead_last_24h": Delivery.objects.filter(status=S.DEAD, updated_at__gte=now - timedelta(days=1)).count(),
        "oldest_wait_seconds": round((now - min(starts)).total_seconds(), 1) if starts else 0.0,
    }
