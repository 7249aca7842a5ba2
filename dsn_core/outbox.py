"""The end of the hot path: snapshot a matched event, write Notification rows, and
enqueue their fan-out when the surrounding transaction commits.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, router, transaction

from .snapshot import snapshot
from .tasks import enqueue_fan_out

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
    if enqueues_in_database(alias):
        # The task queue is a table of this same database: write the notification and its
        # fan-out task in one transaction (one commit in autocommit mode, a savepoint inside
        # the caller's transaction). It commits or rolls back with the caller's work, exactly
        # like on_commit, for one commit less.
        with transaction.atomic(using=alias):
            _insert(rows, alias)
            ids = [row.pk for row in rows]
            for notification_id in ids:
                enqueue_fan_out(notification_id)
        return ids
    connection = transaction.get_connection(alias)
    if connection.in_atomic_block:
        # A savepoint, so a failure here cannot poison the caller's transaction.
        with transaction.atomic(using=alias):
            _insert(rows, alias)
    else:
        _insert(rows, alias)
    ids = [row.pk for row in rows]
    transaction.on_commit(partial(_enqueue, ids), using=alias, robust=True)
    return ids


_in_database: dict[tuple[str, str], bool] = {}


def enqueues_in_database(alias: str) -> bool:
    """Whether DSN's task backend stores tasks in database ``alias`` (django-tasks-db).

    ``DSN["ENQUEUE_IN_TRANSACTION"]`` forces it on or off; ``"auto"`` (default) detects it.
    """
    from . import conf

    forced = conf.dsn_settings().get("ENQUEUE_IN_TRANSACTION", "auto")
    if forced != "auto":
        return bool(forced)
    backend_alias = conf.get("TASK_BACKEND")
    key = (backend_alias, alias)
    known = _in_database.get(key)
    if known is None:
        known = _in_database[key] = _detect(backend_alias, alias)
    return known


def _detect(backend_alias: str, alias: str) -> bool:
    from .compat import task_backends

    try:
        backend = task_backends[backend_alias]
    except Exception:
        return False
    if not type(backend).__module__.startswith("django_tasks_db"):
        return False
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:
        return False
    return router.db_for_write(DBTaskResult) == alias


def _insert(rows: list[Any], alias: str) -> None:
    # bulk_create sends no signals, so DSN never reacts to its own rows.
    type(rows[0]).objects.using(alias).bulk_create(rows)


def _enqueue(ids: list[int]) -> None:
    for notification_id in ids:
        try:
            enqueue_fan_out(notification_id)
        except Exception:
            # The notification stays un-fanned-out; ``dsn_sweep`` enqueues it again.
            logger.exception("DSN could not enqueue fan-out of notification %s; the sweeper retries", notification_id)
