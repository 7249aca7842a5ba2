"""Orchestration's background task: close the digest windows that are due."""

from __future__ import annotations

from datetime import datetime

from .. import conf
from ..compat import task, task_backends

_OPTIONS = {"backend": conf.get("TASK_BACKEND"), "queue_name": conf.get("QUEUE")}


@task(**_OPTIONS)
def close_digests_task() -> int:
    """Close every due digest window (each becomes one delivery, sent by the normal path)."""
    from .digests import close_due

    return close_due()


def enqueue_close(due_at: datetime) -> None:
    """Run :func:`close_digests_task` at ``due_at`` where the task backend can defer work;
    elsewhere the sweeper closes due windows."""
    alias = conf.get("TASK_BACKEND")
    if not task_backends[alias].supports_defer:
        return
    close_digests_task.using(backend=alias, queue_name=conf.get("QUEUE"), run_after=due_at).enqueue()
