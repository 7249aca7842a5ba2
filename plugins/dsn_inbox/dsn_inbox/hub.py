"""The receiving side of live updates, inside each ASGI process: one hub per event loop.

Every open SSE stream subscribes its user to the hub and waits on an :class:`asyncio.Event`.
The hub wakes the streams of users whose inbox changed, learning about changes from

- Redis pub/sub (``DSN["INBOX"]["REDIS_URL"]``), or
- PostgreSQL ``LISTEN`` on one dedicated connection per process, or
- neither: a poll of :class:`~dsn_inbox.models.InboxVersion` for all connected users at once,
  every ``POLL_INTERVAL`` seconds (one primary-key query per poll, however many streams).

With a push source the version poll still runs every ``SAFETY_POLL`` seconds, so a lost
message (Redis restarting, a dropped LISTEN connection) delays an update instead of losing it.
Push sources reconnect with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections

from . import conf

logger = logging.getLogger("dsn_inbox.hub")
SAFETY_POLL = 5.0
#: Threads (and so database connections) per ASGI process for the streams' queries.
DB_THREADS = 4
T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except Exception:
        connections.close_all()  # this thread's connections: the next call opens fresh ones
        raise


async def run_db(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` (ORM code) in the inbox's small thread pool.

    Not ``sync_to_async``: under ASGI that runs in a thread of the request's own, and the
    database connection it opens stays open as long as the request, so 1,000 open streams
    would hold 1,000 connections. Here a few threads, each keeping one connection, serve
    every stream of the process.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="dsn-inbox-db")
    return await asyncio.get_running_loop().run_in_executor(_pool, functools.partial(_in_thread, fn, *args))


class Hub:
    """Wakes the SSE streams of users whose inbox changed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiters: dict[int, set[asyncio.Event]] = {}
        self.versions: dict[int, int] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.source = "poll"

    # -- streams ------------------------------------------------------------------------

    def subscribe(self, user_id: int) -> asyncio.Event:
        """A new event for one stream of ``user_id``; set whenever that user's inbox changes."""
        event = asyncio.Event()
        self.waiters.setdefault(user_id, set()).add(event)
        if not self.tasks:
            self.start()
        return event

    def unsubscribe(self, user_id: int, event: asyncio.Event) -> None:
        events = self.waiters.get(user_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self.waiters[user_id]
                self.versions.pop(user_id, None)

    def wake(self, user_ids: Any) -> None:
        for user_id in user_ids:
            for event in self.waiters.get(int(user_id), ()):
                event.set()

    @property
    def connections(self) -> int:
        return sum(len(events) for events in self.waiters.values())

    # -- sources ------------------------------------------------------------------------

    def start(self) -> None:
        url = conf.get("REDIS_URL")
        if url:
            self.source = "redis"
            self.tasks.append(self.loop.create_task(self._reconnecting(self._redis, url)))
        elif connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
            self.source = "postgresql"
            self.tasks.append(self.loop.create_task(self._reconnecting(self._postgres)))
        interval = float(conf.get("POLL_INTERVAL")) if self.source == "poll" else SAFETY_POLL
        self.tasks.append(self.loop.create_task(self._poll(interval)))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks = []

    async def _reconnecting(self, listen: Any, *args: Any) -> None:
        delay = 0.5
        while True:
            try:
                await listen(*args)
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "DSN inbox: the %s listener stopped (%s); reconnecting in %.1fs", self.source, exc, delay
                )
                # Whatever changed while we were away: wake everyone, they re-read their counts.
                self.wake(list(self.waiters))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 30.0)

    async def _postgres(self) -> None:
        import psycopg

        params = connections[DEFAULT_DB_ALIAS].get_connection_params()
        for name in ("cursor_factory", "context"):
            params.pop(name, None)
        conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        async with conn:
            await conn.execute(f'LISTEN "{conf.get("CHANNEL")}"')
            self.wake(list(self.waiters))  # anything that happened before LISTEN took effect
            async for notify in conn.notifies():
                self.wake(int(pk) for pk in notify.payload.split(",") if pk.isdigit())

    async def _redis(self, url: str) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(url)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(conf.get("CHANNEL"))
            self.wake(list(self.waiters))
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self.wake(json.loads(message["data"]))
        finally:
            await pubsub.aclose()
            await client.aclose()

    async def _poll(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            ids = list(self.waiters)
            if not ids:
                continue
            try:
                rows = await run_db(_versions, ids)
            except Exception as exc:
                logger.warning("DSN inbox: version poll failed: %s", exc)
                continue
            changed = [pk for pk, version in rows if self.versions.get(pk) != version]
            for pk, version in rows:
                self.versions[pk] = version
            self.wake(changed)


def _versions(ids: list[int]) -> list[tuple[int, int]]:
    from .models import InboxVersion

    return list(InboxVersion.objects.filter(user_id__in=ids).values_list("user_id", "version"))


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """The hub of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    current = _hubs.get(loop)
    if current is None:
        for old in [old for old in _hubs if old.is_closed()]:
            del _hubs[old]
        current = _hubs[loop] = Hub(loop)
    return current
