"""Fan-out's fast path: a first fan-out streams its rows (``COPY`` on PostgreSQL with psycopg 3),
and a conflict on the unique key falls back to the idempotent insert without losing a row."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dsn_core.fanout import _PENDING, fan_out, insert_deliveries
from dsn_core.models import Delivery, Notification
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture
def dummy_tasks(settings: Any) -> None:
    """Enqueued tasks are kept, not run, so deliveries stay as fan-out left them."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def flow(make_flow: Any, django_user_model: Any, dummy_tasks: None) -> dict[str, Any]:
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(5)]
    subscription = make_flow(Article, users=users)
    Article.objects.create(title="a")
    return {
        "users": users,
        "subscription": subscription,
        "backend": subscription.backends.get(),
        "notification": Notification.objects.get(),
    }


def _rows(users: list[Any]) -> list[tuple[Any, str, str, str]]:
    return [(u.pk, u.username, _PENDING, "") for u in users]


def test_first_fan_out_writes_every_row_once_and_is_counted(flow: dict[str, Any]) -> None:
    with CaptureQueriesContext(connection) as ctx:
        assert fan_out(flow["notification"].pk) == 5
    assert sorted(Delivery.objects.values_list("address", flat=True)) == [f"u{i}" for i in range(5)]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}
    if connection.vendor == "postgresql":  # the COPY shows in Django's query log, with its row count
        assert any(q["sql"].startswith("COPY ") and q["sql"].endswith("-- 5 rows") for q in ctx.captured_queries)


def test_fresh_rows_that_exist_already_fall_back_and_add_only_the_missing(flow: dict[str, Any]) -> None:
    """A re-run (or a concurrent run) that still believed the fan-out was fresh loses nothing
    and duplicates nothing: the conflict rolls the COPY back and the rows go in idempotently."""
    users, notification = flow["users"], flow["notification"]
    insert_deliveries(notification, flow["subscription"], flow["backend"], _rows(users[:2]))
    insert_deliveries(notification, flow["subscription"], flow["backend"], _rows(users), fresh=True)
    assert sorted(Delivery.objects.values_list("address", flat=True)) == [f"u{i}" for i in range(5)]


def test_conflict_inside_an_outer_transaction_keeps_the_outer_work(flow: dict[str, Any]) -> None:
    """The COPY runs in a savepoint: its rollback leaves the caller's transaction usable."""
    users, notification = flow["users"], flow["notification"]
    with transaction.atomic():
        insert_deliveries(notification, flow["subscription"], flow["backend"], _rows(users[:1]))
        insert_deliveries(notification, flow["subscription"], flow["backend"], _rows(users), fresh=True)
        assert Delivery.objects.count() == 5
    assert Delivery.objects.count() == 5


def test_two_users_sharing_an_address_get_one_delivery_on_a_first_fan_out(flow: dict[str, Any]) -> None:
    users, notification = flow["users"], flow["notification"]
    rows = [(users[0].pk, "shared", _PENDING, ""), (users[1].pk, "shared", _PENDING, "")]
    insert_deliveries(notification, flow["subscription"], flow["backend"], rows, fresh=True)
    assert list(Delivery.objects.values_list("recipient_id", "address")) == [(users[0].pk, "shared")]


def test_copy_keeps_tabs_newlines_backslashes_and_nulls(flow: dict[str, Any]) -> None:
    """Fan-out formats COPY's text itself: every character the format escapes arrives intact."""
    users, notification = flow["users"], flow["notification"]
    odd = ["tab\there", "new\nline\r", "back\\slash", "\\N", "ünï"]
    rows = [(u.pk, address, _PENDING, "") for u, address in zip(users, odd, strict=True)]
    rows.append((None, "fixed\\t", _PENDING, "err\tor"))
    with CaptureQueriesContext(connection) as ctx:
        insert_deliveries(notification, flow["subscription"], flow["backend"], rows, fresh=True)
    stored = set(Delivery.objects.values_list("recipient_id", "address", "last_error", "subscription_id"))
    sub = flow["subscription"].pk
    assert stored == {(u.pk, a, "", sub) for u, a in zip(users, odd, strict=True)} | {
        (None, "fixed\\t", "err\tor", sub)
    }
    if connection.vendor == "postgresql":
        assert any(q["sql"].startswith("COPY ") for q in ctx.captured_queries)
    for created, updated in Delivery.objects.values_list("created_at", "updated_at"):
        assert created == updated
        assert abs((timezone.now() - created).total_seconds()) < 60


def _relaxed(ctx: CaptureQueriesContext) -> int:
    return sum(q["sql"] == "SET LOCAL synchronous_commit TO OFF" for q in ctx.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_chunks_fan_out_commits_itself_do_not_wait_for_the_disk(flow: dict[str, Any]) -> None:
    """Each chunk's own transaction commits asynchronously on PostgreSQL; the setting ends with
    it, and the last write (fanned_out_at) is an ordinary commit that flushes them all."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's synchronous_commit")
    with CaptureQueriesContext(connection) as ctx:
        assert fan_out(flow["notification"].pk) == 5
    assert _relaxed(ctx) == 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


def test_a_callers_transaction_keeps_its_durability(flow: dict[str, Any]) -> None:
    """Inside a transaction fan-out does not own (this test's), nothing is relaxed."""
    with CaptureQueriesContext(connection) as ctx:
        assert fan_out(flow["notification"].pk) == 5
    assert _relaxed(ctx) == 0
    assert Delivery.objects.count() == 5
