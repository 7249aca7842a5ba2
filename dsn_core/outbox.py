"""The end of the hot path: snapshot a matched event, write Notification rows, and have
them fanned out once the surrounding transaction commits.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, router, transaction

from .snapshot import snapshot

logger = logging.getLogger("dsn_core.outbox")

#: Signal kwargs never stored: the signal itself, the request, and kwargs already stored.
_SKIP_KWARGS = frozenset({"signal", "request", "instance", "raw", "using"})


def event_context(verb: str, sender: Any, obj: Any, actor: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON snapshot stored on a Notification."""
    extra = {k: snapshot(v) for k, v in kwargs.items() if k not in _SKIP_KWARGS and v is not obj and v is not actor}
    return {
        "verb": verb,
        "sender": snapshot(sender),
        "action_object": snapshot(obj),
        "actor": snapshot(actor),
        "target": snapshot(kwargs.get("target")),
        "kwargs": extra,
    }


def record(verb: str, sender: Any, obj: Any, actor: Any, kwargs: dict[str, Any], matched: list[Any]) -> list[int]:
    """Write one Notification per matched trigger; enqueue fan-out on commit."""
    from .models import Notification

    context = event_context(verb, sender, obj, actor, kwargs)
    ct = None
    obj_id = ""
    if isinstance(obj, models.Model):
        ct = ContentType.objects.get_for_model(obj, for_concrete_model=False)
        obj_id = str(obj.pk) if obj.pk is not None else ""
    rows = [
        Notification(
            trigger_id=t.id,
            trigger_name=t.name,
            verb=verb,
            action_object_type=ct,
            action_object_id=obj_id,
            context=context,
        )
        for t in matched
    ]
    alias = router.db_for_write(Notification)
    connection = transaction.get_connection(alias)
    if connection.in_atomic_block:
        # A savepoint, so a failure here cannot poison the caller's transaction.
        with transaction.atomic(using=alias):
            _insert(rows, alias)
    else:
        _insert(rows, alias)
    ids = [row.pk for row in rows]
    transaction.on_commit(partial(schedule_fan_out, ids), using=alias, robust=True)
    return ids


class _Pump:
    """Per-process memory of the fan-out pump already scheduled (see :func:`schedule_fan_out`)."""

    covered_until = 0.0
    lock = threading.Lock()


def schedule_fan_out(ids: list[int]) -> None:
    """Make sure these committed notifications get fanned out.

    With a task backend that can defer work (django-tasks-db, RQ with a scheduler), one
    *pump* task fans out every pending notification, and each process schedules at most one
    pump per ``DSN["FANOUT_DELAY"]`` (0.2 s): a burst of events costs one task, and the hot
    path pays one INSERT (its Notification). The pump runs ``FANOUT_DELAY`` after it was
    scheduled, and only events committed in the first half of that window rely on it, so
    clock differences between machines have half the window to spare. Backends that cannot
    defer (the immediate backend) get one fan-out task per notification, at once. A lost
    enqueue is recovered by ``dsn_sweep``.
    """
    from .tasks import enqueue_fan_out, enqueue_pump, pump_delay

    try:
        delay = pump_delay()
        if delay is None:
            for notification_id in ids:
                enqueue_fan_out(notification_id)
            return
        now = time.monotonic()
        with _Pump.lock:
            if now < _Pump.covered_until:
                return
            _Pump.covered_until = now + delay / 2
        enqueue_pump(delay)
    except Exception:
        # The notifications stay un-fanned-out; ``dsn_sweep`` enqueues them again.
        logger.exception("DSN could not enqueue the fan-out of notifications %s; the sweeper retries", ids)


def _insert(rows: list[Any], alias: str) -> None:
    if len(rows) == 1:
        # One plain INSERT (bulk_create would wrap it in BEGIN/COMMIT). ``raw=True`` marks
        # the save as DSN's own: its signals are ones DSN itself never reacts to.
        rows[0].save_base(raw=True, force_insert=True, using=alias)
    else:
        type(rows[0]).objects.using(alias).bulk_create(rows)
