"""How many send tasks DSN enqueues: one sender per piece of work, which starts helpers one at
a time (up to ``DSN["PARALLEL_SENDS"]`` senders) only while it finds whole batches to send."""

from __future__ import annotations

from typing import Any

import pytest

from dsn_core.compat import task_backends
from dsn_core.models import Delivery, Notification
from dsn_core.tasks import enqueue_send, send_task
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(settings: Any) -> Any:
    """Enqueued tasks are kept, not run."""
    backend = "django.tasks" if "django.tasks" in settings.TASKS["default"]["BACKEND"] else "django_tasks"
    settings.TASKS = {"default": {"BACKEND": f"{backend}.backends.dummy.DummyBackend"}}
    return task_backends["default"]


def senders(queue: Any) -> list[tuple[Any, ...]]:
    """The arguments of every sender enqueued so far that may start helpers (watches aside)."""
    return [tuple(r.args) for r in queue.results if r.task.name == "send_task" and len(r.args) == 3]


def pending(make_flow: Any, count: int) -> int:
    subscription = make_flow(Article)
    backend = subscription.backends.get()
    notification = Notification.objects.create(trigger=subscription.trigger, trigger_name="t", verb="post_save")
    Delivery.objects.bulk_create(
        Delivery(notification=notification, backend=backend, messenger="locmem", address=f"a{i}") for i in range(count)
    )
    return int(backend.pk)


def test_work_for_four_senders_enqueues_one_that_may_start_three(queue: Any, settings: Any) -> None:
    settings.DSN = {**settings.DSN, "PARALLEL_SENDS": 4}
    enqueue_send(7, 9, 1000)
    enqueue_send(8, None, 150)
    enqueue_send(9, None, 1)
    assert senders(queue) == [(7, 9, 3), (8, None, 1), (9, None, 0)]


def test_a_sender_that_fills_a_batch_starts_one_helper(make_flow: Any, queue: Any) -> None:
    backend_id = pending(make_flow, 250)
    send_task.call(backend_id, None, 2)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert senders(queue) == [(backend_id, None, 1)], "one helper, allowed one of its own"


def test_a_sender_with_less_than_a_batch_starts_no_helper(make_flow: Any, queue: Any) -> None:
    backend_id = pending(make_flow, 40)
    send_task.call(backend_id, None, 3)
    assert Delivery.objects.filter(status="sent").count() == 40
    assert senders(queue) == []


def test_a_sender_allowed_no_helpers_starts_none(make_flow: Any, queue: Any) -> None:
    backend_id = pending(make_flow, 250)
    send_task.call(backend_id, None, 0)
    assert Delivery.objects.filter(status="sent").count() == 250
    assert senders(queue) == []


def test_a_sender_out_of_time_hands_its_unused_helpers_on(make_flow: Any, queue: Any, settings: Any) -> None:
    """A drain stops after one lease; the fresh task that goes on may still start the helpers
    this one did not (here: its only batch was not full, so it started none)."""
    settings.DSN = {**settings.DSN, "LEASE_SECONDS": 0.000001}  # the budget runs out after one batch
    backend_id = pending(make_flow, 40)
    send_task.call(backend_id, None, 3)
    assert Delivery.objects.filter(status="sent").count() == 40
    assert senders(queue) == [(backend_id, None, 3)]
