"""Retention: deleting read items older than ``DSN["INBOX"]["KEEP_DAYS"]``.

Unread items are kept whatever their age (nobody has seen them yet); archived items are
read, so they go too. The sweeper calls :func:`prune_from_settings` through DSN's ``sweep``
hook, a bounded number of batches per sweep.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from . import conf
from .models import InboxItem


def prune(days: float, *, batch: int = 5000, max_batches: int | None = None, now: datetime | None = None) -> int:
    """Delete items read more than ``days`` days ago, in batches; returns how many."""
    if days < 0 or batch < 1:
        raise ValueError("days must be >= 0 and batch >= 1")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = rounds = 0
    while max_batches is None or rounds < max_batches:
        rounds += 1
        with transaction.atomic():
            ids = list(
                InboxItem.objects.filter(read_at__lt=cutoff).order_by("read_at").values_list("pk", flat=True)[:batch]
            )
            if not ids:
                break
            deleted += InboxItem.objects.filter(pk__in=ids).delete()[0]
    return deleted


def prune_from_settings(*, max_batches: int | None = 10, now: datetime | None = None) -> int | None:
    """Prune by ``DSN["INBOX"]["KEEP_DAYS"]``; ``None`` when it is not set."""
    days = conf.get("KEEP_DAYS")
    if days is None:
        return None
    return prune(float(days), max_batches=max_batches, now=now)
