"""With a task backend that can defer work (django-tasks-db), matched events write only
their Notification; one fan-out pump per burst does the rest."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from dsn_core import outbox
from dsn_core.builtins import LocmemMessenger
from dsn_core.models import Delivery, Notification
from dsn_core.tasks import fan_out_pending_task, pump_delay
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def db_tasks(settings: Any) -> Any:
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    outbox._Pump.covered_until = 0.0
    yield DBTaskResult
    outbox._Pump.covered_until = 0.0


def _task_rows(model: Any) -> list[str]:
    return list(model.objects.values_list("task_path", flat=True))


def _senders(model: Any) -> list[Any]:
    """Send tasks enqueued for pending work (a watch, with two arguments, is not one)."""
    rows = model.objects.filter(task_path="dsn_core.tasks.send_task").values_list("args_kwargs", flat=True)
    return [row["args"] for row in rows if len(row["args"]) == 3]


def test_pump_only_where_the_backend_can_defer(db_tasks: Any, settings: Any) -> None:
    assert pump_delay() == 0.2
    settings.DSN = {**settings.DSN, "FANOUT_DELAY": 0}
    assert pump_delay() is None


def test_immediate_backend_fans_out_each_notification_at_once(settings: Any) -> None:
    assert pump_delay() is None  # the test settings' immediate backend cannot defer


def test_a_burst_of_events_costs_one_pump(db_tasks: Any, make_flow: Any, admin_user: Any) -> None:
    make_flow(Article, users=[admin_user])
    with CaptureQueriesContext(connection) as queries:
        Article.objects.create(title="one")
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 3  # the article, its notification, the one pump for the burst
    with CaptureQueriesContext(connection) as queries:
        Article.objects.create(title="two")
        Article.objects.create(title="three")
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 4  # two articles, two notifications: the pump already covers them
    assert _task_rows(db_tasks) == ["dsn_core.tasks.fan_out_pending_task"]
    assert fan_out_pending_task.call() == 3  # what the worker runs, FANOUT_DELAY later
    assert Delivery.objects.count() == 3
    assert not Notification.objects.filter(fanned_out_at__isnull=True).exists()


def test_rollback_leaves_no_notification_and_no_task(db_tasks: Any, make_flow: Any, admin_user: Any) -> None:
    make_flow(Article, users=[admin_user])
    with pytest.raises(RuntimeError), transaction.atomic():
        Article.objects.create(title="gone")
        assert Notification.objects.count() == 1
        raise RuntimeError("the view failed")
    assert Notification.objects.count() == 0
    assert _task_rows(db_tasks) == []


def test_pump_keeps_going_when_more_are_waiting(db_tasks: Any, make_flow: Any, admin_user: Any) -> None:
    make_flow(Article, users=[admin_user])
    for i in range(3):
        Article.objects.create(title=f"a{i}")
    assert fan_out_pending_task.call(2) == 2
    assert _task_rows(db_tasks).count("dsn_core.tasks.fan_out_pending_task") == 2  # the burst's + a follow-up
    assert Notification.objects.filter(fanned_out_at__isnull=True).count() == 1


def test_a_pump_that_found_one_event_sends_it_itself(
    db_tasks: Any, make_flow: Any, admin_user: Any, dsn_outbox: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LocmemMessenger, "deduplicates", True)  # whole batches: the fan-out sends them
    make_flow(Article, users=[admin_user])
    Article.objects.create(title="alone")
    assert fan_out_pending_task.call() == 1
    assert list(Delivery.objects.values_list("status", flat=True)) == ["sent"]
    assert len(dsn_outbox) == 1
    assert _senders(db_tasks) == [], "no sender for what was sent (only a watch for its lease)"


def test_a_pump_that_found_a_burst_leaves_the_sending_to_send_tasks(
    db_tasks: Any, make_flow: Any, admin_user: Any, dsn_outbox: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sent by the pump, a burst would go out one event after another from one worker."""
    monkeypatch.setattr(LocmemMessenger, "deduplicates", True)
    make_flow(Article, users=[admin_user])
    for i in range(3):
        Article.objects.create(title=f"b{i}")
    assert fan_out_pending_task.call() == 3
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}
    assert dsn_outbox == []
    assert len(_senders(db_tasks)) == 3, "one sender per event, for any worker"
