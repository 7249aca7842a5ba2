"""The JSON API: own items only (every endpoint, two users), CSRF on writes, cursors, limits."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from dsn_inbox import reading
from dsn_inbox.models import InboxItem, InboxVersion

pytestmark = pytest.mark.django_db


def items_for(user: Any, n: int, **fields: Any) -> list[InboxItem]:
    return InboxItem.objects.bulk_create(
        [InboxItem(user=user, subject=f"{user.username} {i}", text="t", **fields) for i in range(n)]
    )


def client_for(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def url(name: str, **kwargs: Any) -> str:
    return reverse(f"dsn_core:dsn_inbox_api_{name}", kwargs=kwargs or None)


def test_list_and_count_show_only_ones_own_items(ann: Any, bob: Any) -> None:
    items_for(ann, 3)
    items_for(bob, 2)
    body = client_for(ann).get(url("items")).json()
    assert [i["subject"] for i in body["items"]] == ["ann 2", "ann 1", "ann 0"]
    assert body["unread"] == 3 and body["next"] is None
    assert client_for(bob).get(url("unread")).json()["unread"] == 2


@pytest.mark.parametrize("action", ["read", "unread_one", "archive"])
def test_one_user_cannot_change_anothers_item(ann: Any, bob: Any, action: str) -> None:
    (item,) = items_for(ann, 1)
    if action == "unread_one":
        reading.mark_read(ann.pk, [item.pk])
    before = InboxItem.objects.values("read_at", "archived_at").get(pk=item.pk)
    response = client_for(bob).post(url(action, pk=item.pk))
    assert response.status_code == 404
    assert InboxItem.objects.values("read_at", "archived_at").get(pk=item.pk) == before
    assert client_for(ann).post(url(action, pk=item.pk)).status_code == 200


def test_mark_read_unread_and_archive(ann: Any) -> None:
    first, second = items_for(ann, 2)
    client = client_for(ann)
    assert client.post(url("read", pk=first.pk)).json() == {"changed": 1, "unread": 1}
    assert client.post(url("read", pk=first.pk)).json() == {"changed": 0, "unread": 1}  # already read: still 200
    assert client.post(url("unread_one", pk=first.pk)).json() == {"changed": 1, "unread": 2}
    assert client.post(url("archive", pk=second.pk)).json() == {"changed": 1, "unread": 1}
    archived = InboxItem.objects.get(pk=second.pk)
    assert archived.archived_at is not None and archived.read_at is not None
    assert [i["id"] for i in client.get(url("items")).json()["items"]] == [first.pk]
    assert client.post(url("unread_one", pk=second.pk)).json()["changed"] == 0  # archived stays read


def test_mark_all_read_touches_only_the_callers_items_up_to_what_they_saw(ann: Any, bob: Any) -> None:
    mine = items_for(ann, 3)
    items_for(bob, 2)
    client = client_for(ann)
    assert client.post(url("read_all"), {"up_to": mine[1].pk}).json() == {"changed": 2, "unread": 1}
    assert client.post(url("read_all")).json() == {"changed": 1, "unread": 0}
    assert reading.unread_count(bob.pk) == 2
    assert client.post(url("read_all"), {"up_to": "x"}).status_code == 400


def test_mark_all_read_is_rate_limited(ann: Any, bob: Any, settings: Any) -> None:
    from django.core.cache import cache

    cache.clear()
    settings.DSN = {**settings.DSN, "INBOX": {"MARK_ALL_PER_MINUTE": 2}}
    client = client_for(ann)
    assert [client.post(url("read_all")).status_code for _ in range(2)] == [200, 200]
    refused = client.post(url("read_all"))
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert client_for(bob).post(url("read_all")).status_code == 200  # per user
    cache.clear()


@pytest.mark.parametrize("name", ["read", "unread_one", "archive", "read_all"])
def test_writes_need_the_csrf_token(ann: Any, name: str) -> None:
    (item,) = items_for(ann, 1)
    target = url(name) if name == "read_all" else url(name, pk=item.pk)
    client = client_for(ann, csrf=True)
    assert client.post(target).status_code == 403
    client.get(reverse("dsn_core:dsn_inbox"))  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    assert client.post(target, HTTP_X_CSRFTOKEN=token).status_code == 200


@pytest.mark.parametrize("name", ["items", "unread", "read", "unread_one", "archive", "read_all"])
def test_anonymous_callers_get_401(ann: Any, name: str) -> None:
    (item,) = items_for(ann, 1)
    client = Client()
    if name in ("items", "unread"):
        response = client.get(url(name))
    else:
        response = client.post(url(name) if name == "read_all" else url(name, pk=item.pk))
    assert response.status_code == 401
    assert InboxItem.objects.get().read_at is None


def test_writes_refuse_get(ann: Any) -> None:
    (item,) = items_for(ann, 1)
    assert client_for(ann).get(url("read", pk=item.pk)).status_code == 405


def test_cursor_pages_are_stable_while_items_arrive(ann: Any) -> None:
    items_for(ann, 5)
    client = client_for(ann)
    first = client.get(url("items"), {"size": 2}).json()
    items_for(ann, 3)  # new items on top must not shift the next page
    second = client.get(url("items"), {"size": 2, "cursor": first["next"]}).json()
    third = client.get(url("items"), {"size": 2, "cursor": second["next"]}).json()
    subjects = [i["subject"] for page in (first, second, third) for i in page["items"]]
    assert subjects == ["ann 4", "ann 3", "ann 2", "ann 1", "ann 0"]
    assert third["next"] is None
    assert client.get(url("items"), {"cursor": "-1"}).status_code == 400
    assert client.get(url("items"), {"cursor": "abc"}).status_code == 400


def test_unread_filter_and_html_on_request(ann: Any) -> None:
    first, second = items_for(ann, 2, html="<p>hi</p>")
    reading.mark_read(ann.pk, [second.pk])
    body = client_for(ann).get(url("items"), {"unread": "1", "html": "1"}).json()
    assert [(i["id"], i["html"], i["read"]) for i in body["items"]] == [(first.pk, "<p>hi</p>", False)]
    assert "html" not in client_for(ann).get(url("items")).json()["items"][0]


def test_first_page_is_one_query_and_count_one_query(ann: Any) -> None:
    items_for(ann, 30)
    with CaptureQueriesContext(connection) as captured:
        result = reading.page(ann.pk, size=20)
    assert len(captured) == 1 and len(result.items) == 20
    with CaptureQueriesContext(connection) as captured:
        assert reading.unread_count(ann.pk) == 30
    assert len(captured) == 1


def test_changes_bump_the_users_version(ann: Any) -> None:
    (item,) = items_for(ann, 1)
    assert reading.version(ann.pk) == 0
    reading.mark_read(ann.pk, [item.pk])
    first = reading.version(ann.pk)
    reading.mark_unread(ann.pk, [item.pk])
    assert first and reading.version(ann.pk) != first
    assert InboxVersion.objects.count() == 1


def test_postgresql_counts_and_pages_from_the_partial_indexes(ann: Any, bob: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL")
    mine = items_for(ann, 60)
    items_for(bob, 50)
    reading.mark_read(ann.pk, [item.pk for item in mine[:40]])
    with CaptureQueriesContext(connection) as captured:
        reading.unread_count(ann.pk)
        reading.page(ann.pk)
    count_sql, page_sql = (q["sql"] for q in captured.captured_queries)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE dsn_inbox_inboxitem")
        # A table this small would be read whole otherwise (the benchmark shows the plans at 10^6 rows).
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_bitmapscan = off")
        try:
            plans = []
            for sql in (count_sql, page_sql):
                cursor.execute(f"EXPLAIN {sql}")
                plans.append(" ".join(row[0] for row in cursor.fetchall()))
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")
    assert "Index Only Scan using dsn_inbox_unread" in plans[0], plans[0]  # rows it counts, never the table
    assert "Index Only Scan Backward using dsn_inbox_list" in plans[1], plans[1]
