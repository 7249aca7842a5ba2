"""The dsn-inbox benchmark: ``python -m benchmarks.inbox [--db postgres|sqlite] [--items N] [--connections N]``.

Measures, on a database of its own (a fresh PostgreSQL database or a temporary SQLite file):

1. reads at ``--items`` rows (default 10^6) in ``dsn_inbox_inboxitem``: the unread count, the
   first page and a page deep in the list, for a typical user (100 items) and a heavy one
   (100,000 items): queries per call and milliseconds (median of 50 calls), and on PostgreSQL
   the plan of the count (it must be an index-only scan);
2. memory of one uvicorn process holding ``--connections`` open SSE streams (default 1,000,
   one user each): resident set size before and after, in MB per 1,000 connections;
3. latency from ``Item.objects.create()`` to the new item arriving on an open SSE stream (the
   immediate task backend runs fan-out and the inbox insert inside ``save()``'s commit, so this
   is the fan-in path: LISTEN/NOTIFY on PostgreSQL, the version poll on SQLite).

The result is printed and written to ``benchmarks/results/inbox-<db>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
USERS = 10_000
HEAVY_ITEMS = 100_000


def _setup(db: str) -> tuple[dict[str, str], Callable[[], None]]:
    """Create the database, point Django at it, migrate; returns the env and a clean-up."""
    env = {"DJANGO_SETTINGS_MODULE": "benchmarks.settings_inbox", "BENCH_DB": db}
    if db == "postgres":
        import psycopg

        name = f"dsn_inbox_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        env["BENCH_DB_NAME"] = name
        cleanup = drop
    else:
        folder = tempfile.mkdtemp(prefix="dsn-inbox-bench-")
        env["BENCH_DB_NAME"] = str(Path(folder) / "bench.sqlite3")
        cleanup = lambda: shutil.rmtree(folder, ignore_errors=True)  # noqa: E731
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env, cleanup


def _seed(items: int) -> None:
    """``USERS`` users; ``items`` rows: the heavy user (pk 1) holds ``HEAVY_ITEMS``, the rest
    are spread over the others; one item in ten is unread."""
    from django.contrib.auth.models import User
    from django.db import connection

    User.objects.bulk_create([User(username=f"user{i}", password="!") for i in range(1, USERS + 1)], batch_size=5000)
    pk_min = User.objects.order_by("pk").values_list("pk", flat=True).first()
    columns = (
        "user_id, subject, text, html, link, level, category, verb, created_at, read_at, archived_at, "
        "notification_id, delivery_id"
    )
    heavy = min(HEAVY_ITEMS, items // 2)
    user_of = f"CASE WHEN g <= {heavy} THEN {pk_min} ELSE {pk_min} + 1 + (g % {USERS - 1}) END"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO dsn_inbox_inboxitem ({columns}) SELECT {user_of}, 'Order ' || g, 'Your order shipped', "
                "'', '/orders/' || g || '/', 'info', '', 'post_save', now() - (g || ' seconds')::interval, "
                "CASE WHEN g % 10 = 0 THEN NULL ELSE now() END, NULL, NULL, NULL "
                f"FROM generate_series(1, {items}) AS g"
            )
            cursor.execute("VACUUM ANALYZE dsn_inbox_inboxitem")
        else:
            cursor.execute(
                f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {items}) "
                f"INSERT INTO dsn_inbox_inboxitem ({columns}) SELECT {user_of}, 'Order ' || g, 'Your order shipped', "
                "'', '/orders/' || g || '/', 'info', '', 'post_save', datetime('now'), "
                "CASE WHEN g % 10 = 0 THEN NULL ELSE datetime('now') END, NULL, NULL, NULL FROM s"
            )
            cursor.execute("ANALYZE")


def _timed(fn: Callable[[], Any], runs: int = 50) -> tuple[float, int]:
    """Median milliseconds of ``fn`` over ``runs`` calls, and the queries one call makes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    fn()
    with CaptureQueriesContext(connection) as captured:
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3), len(captured)


def _reads() -> dict[str, Any]:
    from django.db import connection
    from dsn_inbox import reading
    from dsn_inbox.models import InboxItem

    heavy = InboxItem.objects.order_by("pk").values_list("user_id", flat=True).first()
    typical = InboxItem.objects.order_by("-pk").values_list("user_id", flat=True).first()
    out: dict[str, Any] = {"rows": InboxItem.objects.count()}
    for label, user in (("typical", typical), ("heavy", heavy)):
        total = InboxItem.objects.filter(user_id=user).count()
        deep_cursor = reading.page(user, size=min(total // 2, 10_000)).next_cursor
        row: dict[str, Any] = {"items": total, "unread": reading.unread_count(user)}
        for name, fn in (
            ("unread_count", lambda u=user: reading.unread_count(u)),
            ("first_page", lambda u=user: reading.page(u)),
            ("page_at_middle", lambda u=user, c=deep_cursor: reading.page(u, cursor=c)),
        ):
            ms, queries = _timed(fn)
            row[name] = {"ms": ms, "queries": queries}
        out[label] = row
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT COUNT(*) FROM dsn_inbox_inboxitem WHERE user_id = %s "
                "AND read_at IS NULL AND archived_at IS NULL",
                [heavy],
            )
            out["count_plan_heavy"] = [row[0] for row in cursor.fetchall()]
    return out


def _sessions(user_ids: list[int]) -> list[str]:
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    keys = []
    users = User.objects.in_bulk(user_ids)
    for user in (users[pk] for pk in user_ids):
        store = SessionStore()
        store.update(
            {
                "_auth_user_id": str(user.pk),
                "_auth_user_hash": user.get_session_auth_hash(),
                "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            }
        )
        store.create()
        keys.append(store.session_key)
    return keys


@contextlib.contextmanager
def _uvicorn(env: dict[str, str], log: Path) -> Iterator[tuple[int, int]]:
    """uvicorn on a socket bound to a free port; yields (port, pid)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    port = sock.getsockname()[1]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "benchmarks.inbox_asgi:application",
                "--fd",
                str(sock.fileno()),
                "--log-level",
                "warning",
                "--lifespan",
                "off",
                "--backlog",
                "2048",
            ],
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
        )
    sock.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/dsn/inbox/api/unread/")
                conn.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"uvicorn did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _open_streams(port: int, sessions: list[str]) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    async def one(session: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /dsn/inbox/stream/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sessionid={session}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        data = b""
        while b"event: count" not in data:
            chunk = await asyncio.wait_for(reader.read(4096), timeout=60)
            if not chunk:
                raise RuntimeError("stream closed before its first count")
            data += chunk
        return reader, writer

    streams = []
    for start in range(0, len(sessions), 100):  # in waves, as browsers arrive
        streams.extend(await asyncio.gather(*(one(s) for s in sessions[start : start + 100])))
    return streams


def _memory(port: int, pid: int, sessions: list[str]) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        warm = await _open_streams(port, sessions[:10])  # imports and first-use caches
        for _, writer in warm:
            writer.close()
        await asyncio.sleep(1.0)
        before = _rss_mb(pid)
        streams = await _open_streams(port, sessions)
        await asyncio.sleep(1.0)
        after = _rss_mb(pid)
        for _, writer in streams:
            writer.close()
        n = len(streams)
        return {
            "connections": n,
            "rss_before_mb": round(before, 1),
            "rss_after_mb": round(after, 1),
            "mb_per_1000_connections": round((after - before) * 1000 / n, 1),
        }

    return asyncio.run(run())


def _latency(port: int, session: str, user_id: int, runs: int) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType

    from benchmarks.benchapp.models import Item
    from dsn_core.models import Backend, MessageTemplate, Subscription, Trigger

    trigger = Trigger.objects.create(
        name="inbox", verb="post_save", action_object_type=ContentType.objects.get_for_model(Item)
    )
    template = MessageTemplate.objects.create(name="inbox", subject="{{ instance.title }}", text="new item")
    sub = Subscription.objects.create(trigger=trigger)
    sub.backends.add(Backend.objects.create(name="inbox", messenger="inbox", template=template))
    sub.receiver_users.add(User.objects.get(pk=user_id))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/dsn/inbox/stream/", headers={"Cookie": f"sessionid={session}"})
    response = conn.getresponse()

    def next_item() -> None:
        while True:
            line = response.readline()
            if not line:
                raise RuntimeError("stream closed")
            if line.startswith(b"event: item"):
                return

    samples = []
    for i in range(runs + 2):
        start = time.perf_counter()
        Item.objects.create(title=f"latency {i}")
        saved = time.perf_counter()
        next_item()
        if i >= 2:  # the first two warm the trigger index and the templates
            samples.append(((time.perf_counter() - start) * 1000, (saved - start) * 1000))
    conn.close()
    total = sorted(s[0] for s in samples)
    return {
        "runs": runs,
        "median_ms": round(statistics.median(total), 1),
        "p95_ms": round(total[int(len(total) * 0.95) - 1], 1),
        "max_ms": round(total[-1], 1),
        "save_returns_median_ms": round(statistics.median(s[1] for s in samples), 1),
        "after_save_returns_median_ms": round(statistics.median(s[0] - s[1] for s in samples), 1),
        "after_save_returns_max_ms": round(max(s[0] - s[1] for s in samples), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--latency-runs", type=int, default=20)
    args = parser.parse_args(argv)
    env, cleanup = _setup(args.db)
    results: dict[str, Any] = {"db": args.db}
    try:
        started = time.perf_counter()
        _seed(args.items)
        results["seed_seconds"] = round(time.perf_counter() - started, 1)
        results["reads"] = _reads()
        print(json.dumps(results["reads"], indent=1), flush=True)
        from django.contrib.auth.models import User

        ids = list(User.objects.order_by("-pk").values_list("pk", flat=True)[: args.connections + 1])
        sessions = _sessions(ids)
        from django.db import connection

        connection.close()  # uvicorn gets the database to itself while we only listen
        with tempfile.TemporaryDirectory() as logs, _uvicorn(env, Path(logs) / "uvicorn.log") as (port, pid):
            results["sse_memory"] = _memory(port, pid, sessions[1:])
            print(json.dumps(results["sse_memory"]), flush=True)
            results["latency_save_to_stream"] = _latency(port, sessions[0], ids[0], args.latency_runs)
            print(json.dumps(results["latency_save_to_stream"]), flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        cleanup()
    out = ROOT / "benchmarks" / "results" / f"inbox-{args.db}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
