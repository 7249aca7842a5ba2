"""A real browser on a page served by uvicorn: the badge counts up within a second when an
event fires in another process, and marking read (one item, then all) clears it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.dsn_inbox.site import postgres_available, site

pytestmark = pytest.mark.slow

ENGINES = [
    pytest.param("sqlite", id="sqlite-polling"),
    pytest.param(
        "postgres",
        id="postgres-listen-notify",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL on 127.0.0.1:5432"),
        ],
    ),
]
UNREAD = "document.querySelector('dsn-inbox-badge').dataset.unread"


@pytest.mark.own_database
@pytest.mark.parametrize("engine", ENGINES)
def test_the_badge_counts_up_live_and_marking_read_clears_it(tmp_path: Path, page: Any, engine: str) -> None:
    with site(tmp_path, engine) as s:
        session = s.login("ann")
        s.serve()
        page.context.add_cookies([{"name": "sessionid", "value": session, "url": s.url}])
        page.goto(f"{s.url}/shop/")
        badge = page.locator("dsn-inbox-badge .dsn-inbox-count")
        assert badge.is_hidden()  # nothing unread yet
        page.wait_for_function(f"{UNREAD} === '0'")  # the stream is connected and has said so

        committed = s.fire("Order 1", ["ann"])
        page.wait_for_function(f"{UNREAD} === '1'", timeout=5000)
        latency = time.time() - committed
        assert latency < 1.0, f"the badge took {latency:.2f}s"
        assert badge.inner_text() == "1" and badge.is_visible()
        assert page.get_attribute("dsn-inbox-badge a", "aria-label") == "Notifications, 1 unread"

        # the dropdown, by keyboard: the new item arrived without a reload
        toggle = page.locator("dsn-inbox .dsn-inbox-toggle")
        toggle.focus()
        page.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "true"
        item = page.locator("dsn-inbox .dsn-inbox-item", has_text="Order 1")
        assert item.count() == 1
        item.locator(".dsn-inbox-mark").click()
        page.wait_for_function(f"{UNREAD} === '0'", timeout=5000)
        assert badge.is_hidden() and page.locator("dsn-inbox .dsn-inbox-count").is_hidden()
        page.keyboard.press("Escape")
        assert toggle.get_attribute("aria-expanded") == "false"

        s.fire("Order 2", ["ann"])
        s.fire("Order 3", ["ann"])
        page.wait_for_function(f"{UNREAD} === '2'", timeout=5000)
        page.keyboard.press("Enter")
        page.click("dsn-inbox .dsn-inbox-read-all")
        page.wait_for_function(f"{UNREAD} === '0'", timeout=5000)
        # the open list re-renders after the count: wait for it (bounded), then check
        page.wait_for_function("document.querySelectorAll('dsn-inbox .dsn-inbox-mark').length === 0", timeout=5000)
        assert page.locator("dsn-inbox .dsn-inbox-mark").count() == 0
        assert "Traceback" not in s.log_text()


@pytest.mark.django_db(transaction=True)
def test_without_an_asgi_server_the_badge_falls_back_to_polling(
    live_server: Any, page: Any, client: Any, django_user_model: Any
) -> None:
    """Django's live server is WSGI: the stream answers 503, the script retries with backoff,
    then polls the count."""
    from dsn_inbox import reading
    from dsn_inbox.models import InboxItem

    ann = django_user_model.objects.create_user("ann", password="pw")
    client.force_login(ann)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    streams: list[int] = []
    page.on("response", lambda r: streams.append(r.status) if r.url.endswith("/inbox/stream/") else None)
    page.goto(f"{live_server.url}/dsn/inbox/")
    item = InboxItem.objects.create(user=ann, subject="polled")
    page.wait_for_function(f"{UNREAD} === '1'", timeout=20_000)
    assert streams[:3] == [503, 503, 503]
    reading.mark_read(ann.pk, [item.pk])
    page.wait_for_function(f"{UNREAD} === '0'", timeout=20_000)
