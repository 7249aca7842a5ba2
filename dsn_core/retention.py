"""Retention: deleting old, finished notifications and their deliveries.

Every matched event leaves a Notification and one Delivery per message; without pruning the
two tables grow for ever. A notification is *finished* when it was fanned out and none of its
deliveries can still be sent (each is sent, dead or skipped). Only finished notifications
older than the cut-off are deleted, with their deliveries, in batches, so a prune never holds
long locks and never removes work in flight.

``DSN["RETENTION_DAYS"]`` makes the sweeper prune on each run; ``manage.py dsn_prune`` does it
on demand.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from . import conf
from .models import Delivery, Notification

S = Delivery.Status
#: Delivery states that still have work ahead of them.
UNFINISHED = (S.PENDING, S.SENDING, S.FAILED)


def finished_before(cutoff: datetime) -> Any:
    """Notifications created before ``cutoff`` whose deliveries are all final."""
    open_work = Delivery.objects.filter(notification=OuterRef("pk"), status__in=UNFINISHED)
    return Notification.objects.filter(created_at__lt=cutoff, fanned_out_at__isnull=False).filter(~Exists(open_work))


def prune(
    days: float,
    *,
    batch: int = 1000,
    max_batches: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete finished notifications older than ``days`` days, and their deliveries.

    Works in batches of ``batch`` notifications, each in its own transaction; stops after
    ``max_batches`` (``None``: until nothing is left). ``dry_run`` only counts. Returns
    ``{"notifications": n, "deliveries": m}``, deleted (or that would be).
    """
    if days < 0 or batch < 1:
        raise ValueError("days must be >= 0 and batch >= 1")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    if dry_run:
        chosen = finished_before(cutoff)
        return {
            "notifications": chosen.count(),
            "deliveries": Delivery.objects.filter(notification__in=chosen.values("pk")).count(),
        }
    done = {"notifications": 0, "deliveries": 0}
    rounds = 0
    while max_batches is None or rounds < max_batches:
        rounds += 1
        with transaction.atomic():
            ids = list(finished_before(cutoff).order_by("pk").values_list("pk", flat=True)[:batch])
            if not ids:
                break
            _, per_model = Notification.objects.filter(pk__in=ids).delete()
        done["notifications"] += per_model.get(Notification._meta.label, 0)
        done["deliveries"] += per_model.get(Delivery._meta.label, 0)
    return done


def prune_from_settings(**kwargs: Any) -> dict[str, int] | None:
    """Prune by ``DSN["RETENTION_DAYS"]``; ``None`` when it is not set."""
    days = conf.get("RETENTION_DAYS")
    if days is None:
        return None
    return prune(float(days), **kwargs)
