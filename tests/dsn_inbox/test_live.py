"""Live updates against a real uvicorn process: the SSE stream, with events fired from another
process, on each fan-in path (PostgreSQL LISTEN/NOTIFY, Redis pub/sub, polling on SQLite)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.dsn_inbox.site import EventStream, postgres_available, site

pytestmark = [pytest.mark.slow, pytest.mark.own_database]


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=6379, db=4, socket_connect_timeout=1).ping())
    except Exception:
        return False


PATHS = [
    pytest.param("sqlite", {}, "poll", id="sqlite-polling"),
    pytest.param(
        "postgres",
        {},
        "postgresql",
        id="postgres-listen-notify",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL on 127.0.0.1:5432"),
        ],
    ),
    pytest.param(
        "sqlite",
        {"DSN_INBOX_REDIS_URL": "redis://127.0.0.1:6379/4"},
        "redis",
        id="sqlite-redis",
        marks=[pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")],
    ),
]


@pytest.mark.parametrize(("engine", "env", "source"), PATHS)
def test_a_new_item_reaches_the_stream(tmp_path: Path, engine: str, env: dict[str, str], source: str) -> None:
    with site(tmp_path, engine, **env) as s:
        ann, bob = s.login("ann"), s.login("bob")
        s.serve()
        stream, other = EventStream(s.url, ann), EventStream(s.url, bob)
        try:
            assert stream.response.status == 200
            assert stream.response.getheader("Content-Type") == "text/event-stream"
            assert stream.next_event() == ("count", {"unread": 0}, "")
            assert other.next_event() == ("count", {"unread": 0}, "")
            committed = s.fire("Ledger", ["ann"])
            _, data, event_id = stream.until(lambda n, d: n == "item", timeout=5)
            item_latency = time.time() - committed
            assert data["subject"] == "Ledger" and data["read"] is False and event_id == str(data["id"])
            assert stream.until(lambda n, d: n == "count", timeout=5)[1] == {"unread": 1}
            assert item_latency < 1.0, f"{source}: the item took {item_latency:.2f}s"
            # bob got no item: his stream only carries keep-alives until he has news of his own
            with pytest.raises(TimeoutError):
                other.until(lambda n, d: True, timeout=1.0)
        finally:
            stream.close()
            other.close()
        # a reconnecting browser sends Last-Event-ID and gets what it missed
        s.fire("While away", ["ann"])
        again = EventStream(s.url, ann, last_event_id=event_id)
        try:
            assert again.until(lambda n, d: n == "item", timeout=5)[1]["subject"] == "While away"
        finally:
            again.close()
        assert "Traceback" not in s.log_text()


def test_the_stream_needs_a_login(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.serve()
        stream = EventStream(s.url, "not-a-session")
        assert stream.response.status == 401
        stream.close()


def test_marking_read_elsewhere_updates_the_count(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        ann = s.login("ann")
        s.fire("One", ["ann"])
        s.serve()
        stream = EventStream(s.url, ann)
        try:
            assert stream.next_event()[1] == {"unread": 1}
            s.run(
                "from django.contrib.auth.models import User\n"
                "from dsn_inbox import reading\n"
                "reading.mark_all_read(User.objects.get(username='ann').pk)\n"
            )
            assert stream.until(lambda n, d: n == "count", timeout=5)[1] == {"unread": 0}
        finally:
            stream.close()


def count_streams(url: str, session: str, n: int) -> list[Any]:
    return [EventStream(url, session) for _ in range(n)]


def test_many_streams_of_one_user_all_hear_the_news(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        ann = s.login("ann")
        s.serve()
        streams = count_streams(s.url, ann, 20)
        try:
            for stream in streams:
                assert stream.next_event()[1] == {"unread": 0}
            s.fire("All", ["ann"])
            for stream in streams:
                assert stream.until(lambda n, d: n == "count", timeout=5)[1] == {"unread": 1}
        finally:
            for stream in streams:
                stream.close()
