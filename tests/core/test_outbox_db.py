"""With django-tasks-db on the same database, the fan-out task is written in the
notification's own transaction: one commit, and a rollback removes both."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from dsn_core import outbox
from dsn_core.models import Notification
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def db_tasks(settings: Any) -> Any:
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    outbox._in_database.clear()
    yield DBTaskResult
    outbox._in_database.clear()


def _task_rows(model: Any) -> list[str]:
    return list(model.objects.values_list("task_path", flat=True))


def test_detects_the_database_backend(db_tasks: Any, settings: Any) -> None:
    assert outbox.enqueues_in_database("default") is True
    settings.DSN = {**settings.DSN, "ENQUEUE_IN_TRANSACTION": False}
    assert outbox.enqueues_in_database("default") is False


def test_immediate_backend_is_not_in_database(settings: Any) -> None:
    outbox._in_database.clear()
    assert outbox.enqueues_in_database("default") is False


def test_notification_and_task_commit_together(db_tasks: Any, make_flow: Any, admin_user: Any) -> None:
    make_flow(Article, users=[admin_user])
    with CaptureQueriesContext(connection) as queries:
        Article.objects.create(title="one")
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 3  # the article, the notification, the fan-out task
    assert Notification.objects.count() == 1
    assert _task_rows(db_tasks) == ["dsn_core.tasks.fan_out_task"]


def test_rollback_removes_notification_and_task(db_tasks: Any, make_flow: Any, admin_user: Any) -> None:
    make_flow(Article, users=[admin_user])
    with pytest.raises(RuntimeError), transaction.atomic():
        Article.objects.create(title="gone")
        assert Notification.objects.count() == 1
        raise RuntimeError("the view failed")
    assert Notification.objects.count() == 0
    assert _task_rows(db_tasks) == []
