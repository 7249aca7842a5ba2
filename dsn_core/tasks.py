"""DSN's background tasks, on Django's Tasks API.

Tasks carry ids only; the database is the source of truth, so a task that runs twice or
never is harmless (the sweeper re-enqueues what is left). The backend alias and queue
come from ``DSN["TASK_BACKEND"]`` and ``DSN["QUEUE"]``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from . import conf
from .compat import task, task_backends

# The task's own backend and queue are validated when this module is imported, so they
# come from DSN's settings (a backend may not allow the "default" queue).
_OPTIONS = {"backend": conf.get("TASK_BACKEND"), "queue_name": conf.get("QUEUE")}


@task(**_OPTIONS)
def fan_out_task(notification_id: int) -> int:
    """Create the deliveries of one notification."""
    from .fanout import fan_out

    return fan_out(notification_id)


@task(**_OPTIONS)
def fan_out_pending_task(limit: int = 1000) -> int:
    """The pump: fan out every committed notification still waiting (oldest first)."""
    from .fanout import fan_out
    from .models import Notification

    pending = list(
        Notification.objects.filter(fanned_out_at__isnull=True).order_by("pk").values_list("pk", flat=True)[:limit]
    )
    for notification_id in pending:
        fan_out(notification_id)
    if len(pending) == limit:  # more waiting: keep going in a fresh task
        _using(fan_out_pending_task).enqueue(limit)
    return len(pending)


@task(**_OPTIONS)
def send_task(backend_id: int, notification_id: int | None = None) -> dict[str, int]:
    """Send the due deliveries of one backend (optionally of one notification)."""
    from .sending import drain, next_retry_at

    result = drain(backend_id, notification_id)
    # Always look: this run may have sent only the due retries while later ones still wait.
    # Only a backend that can defer work can wait for them; elsewhere the sweeper does.
    if task_backends[conf.get("TASK_BACKEND")].supports_defer:
        when = next_retry_at(backend_id, notification_id)
        if when is not None:
            enqueue_send(backend_id, notification_id, 1, run_after=when)
    return result


def _using(task_obj: Any, run_after: datetime | None = None) -> Any:
    alias = conf.get("TASK_BACKEND")
    configured = task_obj.using(backend=alias, queue_name=conf.get("QUEUE"))
    if run_after is not None and task_backends[alias].supports_defer:
        configured = configured.using(run_after=run_after)
    return configured


def pump_delay() -> float | None:
    """Seconds a fan-out pump waits before it runs, or ``None`` when every notification gets
    its own fan-out task (the backend cannot defer work, or ``DSN["FANOUT_DELAY"]`` is 0)."""
    delay = float(conf.get("FANOUT_DELAY"))
    if delay <= 0 or not task_backends[conf.get("TASK_BACKEND")].supports_defer:
        return None
    return delay


def enqueue_pump(delay: float) -> None:
    """Schedule one fan-out pump ``delay`` seconds from now."""
    from datetime import timedelta

    from django.utils import timezone

    _using(fan_out_pending_task, timezone.now() + timedelta(seconds=delay)).enqueue()


def enqueue_fan_out(notification_id: int) -> None:
    """Enqueue the fan-out of a notification."""
    _using(fan_out_task).enqueue(notification_id)


def enqueue_send(backend_id: int, notification_id: int | None = None, pending: int = 1,
                 run_after: datetime | None = None) -> None:
    """Enqueue enough senders for ``pending`` deliveries (at most ``DSN["PARALLEL_SENDS"]``)."""
    parallel = int(conf.get("PARALLEL_SENDS"))
    count = max(1, min(parallel, math.ceil(pending / 100)))
    configured = _using(send_task, run_after)
    for _ in range(count):
        configured.enqueue(backend_id, notification_id)
