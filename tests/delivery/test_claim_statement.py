"""A claim is one statement that returns the rows it took (``UPDATE ... RETURNING``), takes at
most ``n`` rows however many are due and however many workers claim at once, and a drain loads
each recipient once."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections, router, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dsn_core import sending
from dsn_core.builtins import LocmemMessenger
from dsn_core.messengers import Message
from dsn_core.models import Backend, Delivery, Notification
from dsn_core.sending import claim, drain
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db
on_postgres = pytest.mark.skipif(os.environ.get("DSN_TEST_DB") != "postgres", reason="needs PostgreSQL row locks")


def _rows(make_flow: Any, count: int, users: list[Any] = (), notifications: int = 1) -> list[Delivery]:  # type: ignore[assignment]
    """``count`` pending deliveries per notification, their recipients cycling through ``users``."""
    subscription = make_flow(Article)
    backend = subscription.backends.get()
    rows = []
    for n in range(notifications):
        notification = Notification.objects.create(
            trigger=subscription.trigger, trigger_name="t", verb="post_save", context={"verb": "post_save"}
        )
        rows += [
            Delivery(
                notification=notification,
                subscription=subscription,
                backend=backend,
                messenger="locmem",
                address=f"n{n}-{i}",
                recipient=users[i % len(users)] if users else None,
            )
            for i in range(count)
        ]
    Delivery.objects.bulk_create(rows)
    return list(Delivery.objects.order_by("pk"))


@pytest.fixture
def users(django_user_model: Any) -> list[Any]:
    return [django_user_model.objects.create_user(f"u{i}", f"u{i}@example.com", "pw") for i in range(2)]


@pytest.fixture(params=["returning", "read back"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The claim with ``UPDATE ... RETURNING`` and the fallback for databases without it."""
    if request.param == "read back":
        monkeypatch.setattr(sending, "_returns_rows", lambda conn: False)
    return str(request.param)


def _db() -> Any:
    return connections[router.db_for_write(Delivery)]


def test_one_claim_is_one_statement(make_flow: Any, users: list[Any]) -> None:
    rows = _rows(make_flow, 6, users)
    loaded: dict[str, dict[Any, Any]] = {}
    first = claim(None, None, 3, loaded=loaded)  # loads the notification, backend and users
    with CaptureQueriesContext(_db()) as ctx:
        second = claim(None, None, 3, loaded=loaded)
    assert [d.pk for d in first + second] == [d.pk for d in rows]
    assert len(ctx.captured_queries) == 1, [q["sql"] for q in ctx.captured_queries]
    sql = ctx.captured_queries[0]["sql"]
    assert sql.startswith("UPDATE") and "RETURNING" in sql
    if connection.vendor == "postgresql":
        assert "= ANY(ARRAY(SELECT" in sql and "FOR UPDATE SKIP LOCKED" in sql


def test_a_claim_takes_what_is_due_in_order_and_counts_the_attempt(make_flow: Any, users: list[Any], path: str) -> None:
    rows = _rows(make_flow, 8, users)
    now = timezone.now()
    pending, failed_due, failed_later, expired, held, sent, dead, also_pending = rows
    Delivery.objects.filter(pk=failed_due.pk).update(status="failed", attempts=2, next_attempt_at=now)
    Delivery.objects.filter(pk=failed_later.pk).update(
        status="failed", attempts=1, next_attempt_at=now + timedelta(hours=1)
    )
    Delivery.objects.filter(pk=expired.pk).update(
        status="sending", attempts=1, claim="dead-worker", lease_until=now - timedelta(seconds=1)
    )
    Delivery.objects.filter(pk=held.pk).update(
        status="sending", attempts=1, claim="live-worker", lease_until=now + timedelta(hours=1)
    )
    Delivery.objects.filter(pk=sent.pk).update(status="sent", attempts=1)
    Delivery.objects.filter(pk=dead.pk).update(status="dead", attempts=5)
    before = {d.pk: d.attempts for d in Delivery.objects.all()}

    batch = claim(None, None, 3)
    assert [d.pk for d in batch] == [pending.pk, failed_due.pk, expired.pk]  # the lowest due ids
    rest = claim(None, None, 10)
    assert [d.pk for d in rest] == [also_pending.pk]
    assert claim(None, None, 10) == []

    stored = {d.pk: d for d in Delivery.objects.all()}
    for delivery in batch + rest:
        row = stored[delivery.pk]
        assert row.attempts == before[row.pk] + 1  # the expired one counts its second attempt
        assert (row.status, row.claim) == ("sending", delivery.claim)
        assert row.claim not in ("", "dead-worker") and row.lease_until > timezone.now()
        # The instance holds every column as stored, with the relations attached.
        for field in Delivery._meta.concrete_fields:
            assert getattr(delivery, field.attname) == getattr(row, field.attname), field.name
        assert delivery._state.adding is False and delivery._state.db == row._state.db
        assert delivery.recipient == row.recipient and delivery.notification == row.notification
        assert delivery.backend == row.backend
    assert len({d.claim for d in batch}) == 1 and batch[0].claim != rest[0].claim
    untouched = (failed_later, held, sent, dead)
    assert all(stored[d.pk].attempts == before[d.pk] for d in untouched)
    assert stored[held.pk].claim == "live-worker"


def test_a_claim_keeps_its_filters(make_flow: Any, path: str) -> None:
    rows = _rows(make_flow, 3, notifications=2)  # notification A: rows 0-2, B: rows 3-5
    backend = rows[0].backend
    other = Backend.objects.create(name="other", messenger="locmem", template=backend.template)
    Delivery.objects.filter(pk=rows[1].pk).update(backend=other)
    Delivery.objects.filter(pk=rows[2].pk).update(backend=None)  # a deleted backend's row
    assert [d.pk for d in claim(backend.pk, rows[3].notification_id, 1)] == [rows[3].pk]
    assert [d.pk for d in claim(other.pk, None, 5)] == [rows[1].pk]
    taken = claim(None, None, 5, exclude_backends={backend.pk})
    assert [d.pk for d in taken] == [rows[2].pk]  # excluding a backend keeps rows without one
    assert taken[0].backend is None
    assert [d.pk for d in claim(None, None, 5)] == [rows[0].pk, rows[4].pk, rows[5].pk]


def test_a_reused_statement_compares_with_each_claims_own_time(
    make_flow: Any, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statement is built once per shape and reused; only its "now" changes."""
    retry, expired, _ = _rows(make_flow, 3)
    then = timezone.now() + timedelta(minutes=10)
    Delivery.objects.filter(pk=retry.pk).update(status="failed", attempts=1, next_attempt_at=then)
    Delivery.objects.filter(pk=expired.pk).update(status="sending", attempts=1, claim="gone", lease_until=then)
    clock = [then - timedelta(seconds=1)]
    monkeypatch.setattr(sending.timezone, "now", lambda: clock[0])
    first = claim(None, None, 10)
    assert [d.status for d in first] == ["sending"] and first[0].pk not in (retry.pk, expired.pk)
    assert claim(None, None, 10) == []  # neither is due yet
    clock[0] = then + timedelta(seconds=1)
    assert [d.pk for d in claim(None, None, 10)] == [retry.pk, expired.pk]
    if path == "returning":
        assert any(shape[:2] == (None, None) for _, shape in sending._statements)


def test_a_drain_loads_each_recipient_once(
    make_flow: Any, users: list[Any], dsn_outbox: list[Message], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(make_flow, 5, users, notifications=2)  # 10 deliveries to the same 2 users
    monkeypatch.setattr(LocmemMessenger, "max_batch_size", 2)  # 5 batches
    with CaptureQueriesContext(connection) as ctx:
        counts = drain(rows[0].backend_id)
    assert counts["sent"] == 10 and len(dsn_outbox) == 10
    user_table = users[0]._meta.db_table
    user_reads = [q["sql"] for q in ctx.captured_queries if f'"{user_table}"' in q["sql"]]
    assert len(user_reads) == 1, user_reads  # one query for the drain, not one join per batch
    assert user_reads[0].startswith("SELECT")
    # Within the drain a user is one object: every message to it carries that same one.
    by_user: dict[Any, set[int]] = {}
    for message in dsn_outbox:
        assert message.recipient is not None
        by_user.setdefault(message.recipient.pk, set()).add(id(message.recipient))
    assert {pk: len(objects) for pk, objects in by_user.items()} == {u.pk: 1 for u in users}


def test_separate_drains_read_their_users_afresh(
    make_flow: Any, users: list[Any], dsn_outbox: list[Message], django_user_model: Any
) -> None:
    rows = _rows(make_flow, 2, users[:1], notifications=2)
    backend_id = rows[0].backend_id
    Delivery.objects.filter(notification_id=rows[2].notification_id).update(status="sent")
    drain(backend_id)
    django_user_model.objects.filter(pk=users[0].pk).update(first_name="Renamed")
    Delivery.objects.filter(notification_id=rows[2].notification_id).update(status="pending")
    drain(backend_id)
    names = [m.recipient.first_name for m in dsn_outbox]
    assert names == ["", "", "Renamed", "Renamed"]


# -- PostgreSQL: at most n rows, never one row twice --------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@on_postgres
def test_two_claims_at_once_take_disjoint_batches_of_at_most_n(make_flow: Any) -> None:
    _rows(make_flow, 30)
    n = 10
    other: list[list[int]] = []
    errors: list[BaseException] = []

    def claim_elsewhere() -> None:
        try:
            with connection.cursor() as cursor:  # a claim that waited on a lock would fail, not hang
                cursor.execute("SET lock_timeout = '5s'")
            other.append([d.pk for d in claim(None, None, n)])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        mine = [d.pk for d in claim(None, None, n)]  # its rows stay locked until this commits
        thread = threading.Thread(target=claim_elsewhere)
        thread.start()
        thread.join(timeout=30)
    assert errors == [] and len(other) == 1
    last = [d.pk for d in claim(None, None, n)]
    everything = sorted(Delivery.objects.values_list("pk", flat=True))
    assert len(mine) == len(other[0]) == len(last) == n
    assert mine == everything[:n] and other[0] == everything[n : 2 * n]  # the locked ones skipped
    assert sorted(mine + other[0] + last) == everything
    assert claim(None, None, n) == []
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@on_postgres
def test_a_claim_reads_about_n_rows_whatever_came_before(make_flow: Any) -> None:
    """A backend's claim walks its unfinished rows in id order through the partial index
    ``dsn_delivery_claimable`` and stops after n. With 3,000 rows sent and 3,000 due, a claim
    of 10 reads about 10: not the sent rows (the primary key in order) nor every due row and a
    sort (the status index)."""
    rows = _rows(make_flow, 6000)
    Delivery.objects.filter(pk__lte=rows[2999].pk).update(status="sent")
    conn = _db()
    with conn.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE dsn_core_delivery")
    sql, params = sending._claim_statement(conn, (rows[0].backend_id, None, frozenset(), 10), timezone.now())
    params[:4] = ["sending", "token", timezone.now(), timezone.now()]
    with conn.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]

    def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]

    read = [
        (n.get("Index Name") or n["Node Type"], n["Actual Rows"] + n.get("Rows Removed by Filter", 0))
        for n in nodes(plan[0]["Plan"])
    ]
    assert "dsn_delivery_claimable" in dict(read), read
    assert max(rows for _, rows in read) <= 20, read
