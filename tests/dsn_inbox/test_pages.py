"""The template tags and the full-page inbox (server-rendered, works without JavaScript)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse
from dsn_inbox import reading
from dsn_inbox.models import InboxItem

pytestmark = pytest.mark.django_db
PAGE = "/dsn/inbox/"


def render(source: str, user: Any) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load dsn_inbox %}" + source).render(Context({"request": request}))


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_badge_shows_the_unread_count_and_loads_the_script(ann: Any) -> None:
    InboxItem.objects.bulk_create([InboxItem(user=ann, subject=f"s{i}") for i in range(3)])
    html = render("{% dsn_inbox_badge %}", ann)
    assert '<span class="dsn-inbox-count" aria-live="polite" aria-atomic="true">3</span>' in html
    assert f'data-stream="{reverse("dsn_core:dsn_inbox_stream")}"' in html
    assert f'href="{PAGE}"' in html and "dsn_inbox/inbox.js" in html


def test_the_badge_hides_a_zero_count_and_renders_nothing_for_anonymous(ann: Any) -> None:
    assert "hidden>0</span>" in render("{% dsn_inbox_badge %}", ann)
    assert render("{% dsn_inbox_badge %}{% dsn_inbox %}", AnonymousUser()).strip() == ""


def test_the_dropdown_lists_the_newest_items_escaped(ann: Any, bob: Any) -> None:
    InboxItem.objects.create(user=ann, subject="<b>old</b>")
    InboxItem.objects.create(user=ann, subject="new", text="body", link="/orders/1/")
    InboxItem.objects.create(user=bob, subject="bob's")
    html = render("{% dsn_inbox 5 %}", ann)
    assert html.index(">new<") < html.index("&lt;b&gt;old&lt;/b&gt;")
    assert '<a href="/orders/1/">' in html and "bob's" not in html
    assert 'aria-expanded="false"' in html and 'class="dsn-inbox-read-all"' in html


def test_the_page_needs_a_login() -> None:
    response = Client().get(PAGE)
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_page_lists_own_items_and_pages_by_cursor(ann: Any, bob: Any, settings: Any) -> None:
    settings.DSN = {**settings.DSN, "INBOX": {"PAGE_SIZE": 2}}
    InboxItem.objects.bulk_create([InboxItem(user=ann, subject=f"ann {i}") for i in range(3)])
    InboxItem.objects.create(user=bob, subject="bob only")
    client = logged_in(ann)
    first = client.get(PAGE).content.decode()
    assert "ann 2" in first and "ann 1" in first and "ann 0" not in first and "bob only" not in first
    newest_second = reading.page(ann.pk, size=2).next_cursor
    assert f'href="?cursor={newest_second}"' in first
    assert "ann 0" in client.get(PAGE, {"cursor": newest_second}).content.decode()
    assert client.get(PAGE, {"cursor": "nope"}).status_code == 400


def test_the_page_marks_read_archives_and_marks_all_read(ann: Any, bob: Any) -> None:
    # Subjects with a space: "a1" alone turned up inside a random CSRF token (a failed CI run).
    first, second, third = InboxItem.objects.bulk_create([InboxItem(user=ann, subject=f"ann {i}") for i in range(3)])
    theirs = InboxItem.objects.create(user=bob, subject="b")
    client = logged_in(ann)
    assert client.post(PAGE, {"action": "read", "id": first.pk}).status_code == 302
    assert client.post(PAGE, {"action": "archive", "id": second.pk}).status_code == 302
    client.post(PAGE, {"action": "read", "id": theirs.pk})  # someone else's id: nothing happens
    assert reading.unread_count(ann.pk) == 1 and reading.unread_count(bob.pk) == 1
    assert "ann 1" not in client.get(PAGE).content.decode()
    client.post(PAGE, {"action": "read_all", "up_to": third.pk})
    assert reading.unread_count(ann.pk) == 0 and reading.unread_count(bob.pk) == 1
    assert client.post(PAGE, {"action": "explode"}).status_code == 400
    assert client.post(PAGE, {"action": "read", "id": "x"}).status_code == 400


def test_the_page_post_needs_csrf(ann: Any) -> None:
    (item,) = InboxItem.objects.bulk_create([InboxItem(user=ann, subject="a")])
    client = Client(enforce_csrf_checks=True)
    client.force_login(ann)
    assert client.post(PAGE, {"action": "read", "id": item.pk}).status_code == 403
    assert reading.unread_count(ann.pk) == 1


def test_the_stream_refuses_anonymous_and_wsgi(ann: Any) -> None:
    stream = reverse("dsn_core:dsn_inbox_stream")
    assert Client().get(stream).status_code == 401
    response = logged_in(ann).get(stream)  # the test client is WSGI-like: no endless stream there
    assert response.status_code == 503 and b"ASGI" in response.content
