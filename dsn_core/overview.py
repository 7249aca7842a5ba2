"""The admin's overview page: the queue's state and the last day's traffic, in one place."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone

from .models import Delivery
from .plugins import get_messenger_class, report
from .status import snapshot

S = Delivery.Status


def _label(key: str) -> str:
    cls = get_messenger_class(key)
    return str(cls.label) if cls else f"{key} (not installed)"


def hourly(now: datetime, hours: int = 24) -> list[dict[str, Any]]:
    """Sent and failed (failed, dead) deliveries per hour over the last ``hours``, oldest first."""
    start = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    sent = dict(
        Delivery.objects.filter(status=S.SENT, sent_at__gte=start)
        .annotate(h=TruncHour("sent_at"))
        .order_by()
        .values_list("h")
        .annotate(n=Count("pk"))
    )
    failed = dict(
        Delivery.objects.filter(status__in=(S.FAILED, S.DEAD), updated_at__gte=start)
        .annotate(h=TruncHour("updated_at"))
        .order_by()
        .values_list("h")
        .annotate(n=Count("pk"))
    )
    rows = []
    for i in range(hours):
        hour = start + timedelta(hours=i)
        rows.append(
            {
                "hour": timezone.localtime(hour).strftime("%H:00"),
                "sent": sent.get(hour, 0),
                "failed": failed.get(hour, 0),
            }
        )
    top = max([r["sent"] + r["failed"] for r in rows] + [1])
    for r in rows:
        r["sent_pct"] = round(100 * r["sent"] / top)
        r["failed_pct"] = round(100 * r["failed"] / top)
    return rows


def broken_plugins() -> list[dict[str, Any]]:
    """The plugins left out because they are broken: name, distribution, reasons and the fix."""
    return [p for p in report() if p["status"] == "broken"]


def overview(now: datetime | None = None) -> dict[str, Any]:
    """Everything the overview page shows, as plain data."""
    now = now or timezone.now()
    state = snapshot(now)
    day = now - timedelta(days=1)
    waiting = [
        {
            "channel": _label(key),
            "pending": counts.get(S.PENDING, 0),
            "sending": counts.get(S.SENDING, 0),
            "failed": counts.get(S.FAILED, 0),
        }
        for key, counts in sorted(state["waiting_by_messenger"].items())
    ]
    receipts = dict(
        Delivery.objects.filter(receipt_at__gte=day)
        .exclude(receipt="")
        .order_by()
        .values_list("receipt")
        .annotate(n=Count("pk"))
    )
    failed_24h = Delivery.objects.filter(status=S.FAILED, updated_at__gte=day).count()
    rows = hourly(now)
    return {
        "state": state,
        "waiting": waiting,
        "failed_24h": failed_24h,
        "receipts": [(label, receipts.get(value, 0)) for value, label in Delivery.Receipt.choices],
        "hours": rows,
        "any_traffic": any(r["sent"] or r["failed"] for r in rows),
        "total_sent": sum(r["sent"] for r in rows),
        "total_failed": sum(r["failed"] for r in rows),
        "statuses": [(label, state["deliveries"].get(value, 0)) for value, label in S.choices],
        "broken_plugins": broken_plugins(),
    }
