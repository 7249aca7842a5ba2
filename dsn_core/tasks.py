"""DSN's background tasks, on Django's Tasks API.

Tasks carry ids only; the database is the source of truth, so a task that runs twice or
never is harmless. The backend alias and queue come from ``DSN["TASK_BACKEND"]`` and
``DSN["QUEUE"]``.

A worker killed in the middle of a send task takes that task with it. So that its work is
picked up within about one lease, not at the next sweep, every sender keeps a *watch*
scheduled (on backends that can defer work): a send task due when the leases it holds would
run out. If the worker dies, the watch runs on another worker and claims the expired rows
and everything still pending; if it lives, the watch finds nothing to do and stops (or, while
deliveries are still ``sending``, looks again when their lease runs out).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from . import conf
from .compat import task, task_backends

# The task's own backend and queue are validated when this module is imported, so they
# come from DSN's settings (a backend may not allow the "default" queue).
_OPTIONS = {"backend": conf.get("TASK_BACKEND"), "queue_name": conf.get("QUEUE")}


logger = logging.getLogger("dsn_core.tasks")


def _again_later(task_obj: Any, *args: Any) -> None:
    """Enqueue ``task_obj`` again in a second (at once where the backend cannot defer)."""
    from django.utils import timezone

    _using(task_obj, timezone.now() + timedelta(seconds=1)).enqueue(*args)


@task(**_OPTIONS)
def fan_out_task(notification_id: int) -> int:
    """Create the deliveries of one notification (a locked SQLite database: again later)."""
    from .fanout import fan_out
    from .sending import is_locked

    try:
        return fan_out(notification_id, send_first=bool(conf.get("SEND_FROM_FANOUT")))
    except Exception as exc:
        if not is_locked(exc):
            raise
        logger.warning("DSN fan-out of notification %s met a locked database; trying again", notification_id)
        _again_later(fan_out_task, notification_id)
        return 0


@task(**_OPTIONS)
def fan_out_pending_task(limit: int = 1000) -> int:
    """The pump: fan out every committed notification still waiting (oldest first)."""
    from .fanout import fan_out
    from .models import Notification
    from .sending import is_locked

    try:
        pending = list(
            Notification.objects.filter(fanned_out_at__isnull=True).order_by("pk").values_list("pk", flat=True)[:limit]
        )
        # A pump that found one event sends its first chunk itself, as that event's own fan-out
        # task would; one that found a burst leaves all of it to send tasks, spread over workers.
        send_first = len(pending) == 1 and bool(conf.get("SEND_FROM_FANOUT"))
        for notification_id in pending:
            fan_out(notification_id, send_first=send_first)
    except Exception as exc:
        if not is_locked(exc):
            raise
        logger.warning("DSN fan-out pump met a locked database; trying again")
        _again_later(fan_out_pending_task, limit)
        return 0
    if len(pending) == limit:  # more waiting: keep going in a fresh task
        _using(fan_out_pending_task).enqueue(limit)
    return len(pending)


@task(**_OPTIONS)
def send_task(backend_id: int, notification_id: int | None = None, helpers: int = 0) -> dict[str, int]:
    """Send the due deliveries of one backend (optionally of one notification).

    Drains for at most one lease (``DSN["LEASE_SECONDS"]``), then continues in a fresh task,
    so a task still ``RUNNING`` long after that belongs to a worker that died
    (:func:`release_abandoned_tasks`).

    ``helpers``: how many more senders of the same work this one may start. Its first claim
    that fills a whole batch enqueues one more sender, allowed ``helpers - 1`` of its own, so
    the senders spread to idle workers one by one while there is work for them. (Enqueueing all
    of them at once cost one worker process a task per sender that found nothing to send.)
    """
    from .sending import drain_for, is_locked, next_retry_at

    lease = float(conf.get("LEASE_SECONDS"))
    defer = task_backends[conf.get("TASK_BACKEND")].supports_defer
    watch = _Watch(backend_id, lease) if defer else None

    def between(full: bool) -> None:
        nonlocal helpers
        if full and helpers > 0:
            helpers, allowed = 0, helpers - 1
            try:
                _using(send_task).enqueue(backend_id, notification_id, allowed)
            except Exception:  # this sender goes on alone; nothing is lost
                logger.exception("DSN could not start a helper sender for backend %s", backend_id)
        if watch is not None:
            watch.tick()

    try:
        result, more = drain_for(backend_id, notification_id, max_seconds=lease, between=between)
    except Exception as exc:
        if not is_locked(exc):
            raise
        # SQLite stayed locked through the claim's own retries: a retry of the task, not a
        # failed one (what it held comes back when its lease runs out; its watch is scheduled).
        logger.warning("DSN sender of backend %s met a locked database; trying again", backend_id)
        _again_later(send_task, backend_id, notification_id, helpers)
        return {"sent": 0, "failed": 0, "dead": 0, "lost": 0}
    if more:  # the budget ran out: a fresh task goes on, with the helpers this one did not start
        _using(send_task).enqueue(backend_id, notification_id, helpers)
    # Always look: this run may have sent only the due retries while later ones still wait.
    # Only a backend that can defer work can wait for them; elsewhere the sweeper does.
    if watch is not None:
        when = next_retry_at(backend_id, notification_id)
        if when is not None:
            enqueue_send(backend_id, notification_id, 1, run_after=when)
        watch.after()
    _release_now_and_then(lease)
    return result


_released_at = -math.inf


def _release_now_and_then(lease: float) -> None:
    """:func:`release_abandoned_tasks`, at most once per half lease per process."""
    global _released_at
    now = time.monotonic()
    if now - _released_at >= lease / 2:
        _released_at = now
        release_abandoned_tasks()


class _Watch:
    """Keeps one deferred send task scheduled for when this sender's leases would run out."""

    #: Backend id -> epoch time of the last watch this process scheduled.
    scheduled: dict[Any, float] = {}
    lock = threading.Lock()

    def __init__(self, backend_id: Any, lease: float) -> None:
        self.backend_id = backend_id
        self.lease = lease
        self.margin = self.margin_for(lease)
        self.last = -math.inf

    @staticmethod
    def margin_for(lease: float) -> float:
        """Seconds after a lease runs out that its watch runs."""
        return min(1.0, lease / 4)

    def tick(self) -> None:
        """Called after each claim: a watch due just after the lease that claim took runs out."""
        now = time.monotonic()
        if now - self.last < self.lease / 2:
            return
        self.last = now
        from django.utils import timezone

        watch(self.backend_id, timezone.now() + timedelta(seconds=self.lease + self.margin))

    def after(self) -> None:
        """After draining: deliveries still ``sending`` belong to another worker; if it dies,
        someone must look when their lease runs out."""
        from django.db.models import Min

        from .models import Delivery

        qs = Delivery.objects.filter(status=Delivery.Status.SENDING)
        if self.backend_id is not None:
            qs = qs.filter(backend_id=self.backend_id)
        until = qs.aggregate(until=Min("lease_until"))["until"]
        if until is not None:
            watch(self.backend_id, until + timedelta(seconds=self.margin))


def watch_lease(backend_id: Any, until: datetime) -> None:
    """Make sure a sender of this backend runs just after ``until``, when a lease this process
    holds runs out (where the task backend can defer work; elsewhere the sweeper covers it)."""
    if task_backends[conf.get("TASK_BACKEND")].supports_defer:
        lease = float(conf.get("LEASE_SECONDS"))
        watch(backend_id, until + timedelta(seconds=_Watch.margin_for(lease)))


def watch(backend_id: Any, at: datetime) -> None:
    """Make sure a sender of this backend runs at ``at``: skipped when this process already
    scheduled one that is still to come and no later than ``at`` (it looks again itself)."""
    stamp = at.timestamp()
    with _Watch.lock:
        previous = _Watch.scheduled.get(backend_id)
        if previous is not None and time.time() <= previous <= stamp:
            return
        _Watch.scheduled[backend_id] = stamp
    try:
        _using(send_task, at).enqueue(backend_id, None)
    except Exception:
        logger.exception("DSN could not schedule a watch for backend %s; the sweeper covers it", backend_id)


#: Written into a task row that :func:`release_abandoned_tasks` closes.
ABANDONED = "dsn_core.tasks.WorkerLost"


def release_abandoned_tasks(now: datetime | None = None) -> int:
    """Mark DSN's django-tasks-db tasks that stayed ``RUNNING`` long after any live run could
    (their worker was killed) as ``FAILED``, with the reason; returns how many.

    A send task stops claiming after one lease and each provider call has a deadline, so a
    live task is done within about ``LEASE_SECONDS`` + ``SEND_TIMEOUT``; this waits twice the
    lease plus the timeout. Harmless if wrong: a task that does finish records its own result.
    Other task backends keep no such rows; there it does nothing.
    """
    alias = conf.get("TASK_BACKEND")
    if type(task_backends[alias]).__module__.split(".")[0] != "django_tasks_db":
        return 0
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    lease = float(conf.get("LEASE_SECONDS"))
    limit = 2 * lease + float(conf.get("SEND_TIMEOUT") or 0)
    try:
        return DBTaskResult.objects.filter(
            status="RUNNING",
            backend_name=alias,
            task_path__startswith=f"{__name__}.",
            started_at__lt=now - timedelta(seconds=limit),
        ).update(
            status="FAILED",
            finished_at=now,
            exception_class_path=ABANDONED,
            traceback=f"The worker running this DSN task stopped (killed?) more than {limit:g} s ago; "
            "DSN picked its deliveries up again.",
        )
    except Exception:
        logger.exception("DSN could not close abandoned task rows")
        return 0


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


def enqueue_send(
    backend_id: int, notification_id: int | None = None, pending: int = 1, run_after: datetime | None = None
) -> None:
    """Enqueue a sender for ``pending`` deliveries, allowed to start helpers (one at a time, while
    each finds whole batches to send) up to ``DSN["PARALLEL_SENDS"]`` senders in all."""
    parallel = int(conf.get("PARALLEL_SENDS"))
    count = max(1, min(parallel, math.ceil(pending / 100)))
    _using(send_task, run_after).enqueue(backend_id, notification_id, count - 1)
