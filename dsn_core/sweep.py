"""The sweeper: puts back what a lost worker or a lost queue message left behind.

Safe to run often and from several machines at once: every step is a conditional UPDATE
or an enqueue of work that claims its rows atomically.

1. notifications never fanned out (older than ``grace``) -> fan-out enqueued again;
2. deliveries stuck in ``sending`` past their lease -> back to ``pending``;
3. deliveries ``pending`` for longer than ``grace``, or ``failed`` and due, or waiting for a
   messenger that is installed again -> senders enqueued (none for a messenger still missing);
4. rate-limiter rows idle for a minute are deleted;
5. django-tasks-db rows of DSN tasks whose worker died are closed (no ``RUNNING`` for ever);
6. with ``DSN["RETENTION_DAYS"]``, finished notifications older than that are deleted
   (:mod:`dsn_core.retention`);
7. plugins' ``sweep`` hooks run (pruning their own tables); their counts join the report.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from .models import Delivery, Notification
from .tasks import enqueue_fan_out, enqueue_send

logger = logging.getLogger("dsn_core.sweep")
S = Delivery.Status


def sweep(*, grace: float = 30.0, now: datetime | None = None, enqueue: bool = True) -> dict[str, Any]:
    """Run one sweep; return what it found and did."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=grace)
    report: dict[str, Any] = {"fan_outs": 0, "released": 0, "senders": 0}

    stale = list(
        Notification.objects.filter(fanned_out_at__isnull=True, created_at__lt=cutoff).values_list("pk", flat=True)
    )
    for pk in stale:
        if enqueue:
            enqueue_fan_out(pk)
    report["fan_outs"] = len(stale)

    expired = list(Delivery.objects.filter(status=S.SENDING, lease_until__lt=now).values_list("pk", flat=True)[:10000])
    report["released"] = Delivery.objects.filter(pk__in=expired, status=S.SENDING, lease_until__lt=now).update(
        status=S.PENDING, claim="", lease_until=None, updated_at=now
    )

    due = Delivery.objects.filter(
        Q(status=S.PENDING, updated_at__lt=cutoff)
        | Q(status=S.PENDING, pk__in=expired)
        | Q(status=S.FAILED, next_attempt_at__lte=now)
        | Q(status=S.FAILED, next_attempt_at__isnull=True)
    )
    from .plugins import get_messenger_class

    per_backend = due.values("backend_id", "messenger").annotate(n=Count("pk")).order_by("backend_id")
    for row in per_backend:
        if row["backend_id"] is not None and get_messenger_class(row["messenger"]) is None:
            continue  # its deliveries wait for the plugin; a sender now would only park them again
        if enqueue:
            enqueue_send(row["backend_id"], None, row["n"])
        report["senders"] += 1
    from .orchestration.digests import close_due, forget_closed
    from .orchestration.throttle import forget_expired

    report["digests_closed"] = close_due(now)  # windows a lost task left open
    report["orchestration_rows_forgotten"] = forget_expired(now) + forget_closed(now)
    from .ratelimit import forget_idle

    report["rate_rows_forgotten"] = forget_idle()
    from .tasks import release_abandoned_tasks

    report["abandoned_tasks"] = release_abandoned_tasks(now)
    from .retention import prune_from_settings

    # A bounded share per sweep (10 batches), so a first prune of a large backlog never makes
    # one sweep long; the next sweeps continue.
    pruned = prune_from_settings(max_batches=10, now=now)
    report["pruned_notifications"] = pruned["notifications"] if pruned else 0
    report.update(_plugin_sweeps(now))
    if any(report.values()):
        logger.info("DSN sweep: %s", report)
    return report


def _plugin_sweeps(now: datetime) -> dict[str, Any]:
    """Run every plugin's ``sweep`` hook; a plugin raising is logged, never propagated."""
    from .plugins import hook

    counts: dict[str, Any] = {}
    for impl in hook().sweep.get_hookimpls():
        try:
            result = impl.function(**{arg: {"now": now}[arg] for arg in impl.argnames})
        except Exception:
            logger.exception("DSN plugin %s failed in sweep", impl.plugin_name)
            continue
        if isinstance(result, dict):
            counts.update(result)
    return counts
