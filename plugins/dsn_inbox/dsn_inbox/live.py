"""Telling open pages that an inbox changed: the sending side (workers and web processes).

:func:`announce` is called after items are created or marked read. It always bumps the
users' :class:`~dsn_inbox.models.InboxVersion` (one upsert), so an SSE process can poll for
changes with one query; then it pushes the user ids to SSE processes over

- Redis pub/sub, when ``DSN["INBOX"]["REDIS_URL"]`` is set (published after the commit);
- PostgreSQL ``NOTIFY`` otherwise, when the database is PostgreSQL (delivered at commit,
  so a listener never sees an item before it can read it);
- nothing on other databases: SSE processes poll the versions.

The receiving side is :mod:`dsn_inbox.hub`. A failure to push is logged, never raised: the
items are stored, and the SSE processes' slower safety poll of the versions still finds them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from . import conf
from .models import InboxVersion

logger = logging.getLogger("dsn_inbox.live")
#: PostgreSQL NOTIFY payloads must stay under 8000 bytes: user ids go in chunks of this many.
NOTIFY_CHUNK = 500

_redis_lock = threading.Lock()
_redis_clients: dict[str, Any] = {}


def _next_version() -> int:
    """A new version number: nanoseconds since the epoch (monotonic enough; compared for change)."""
    return time.time_ns()


def bump_versions(user_ids: list[int], using: str = DEFAULT_DB_ALIAS) -> None:
    """Give each user's inbox a new version number (one upsert for all of them)."""
    version = _next_version()
    InboxVersion.objects.using(using).bulk_create(
        [InboxVersion(user_id=pk, version=version) for pk in user_ids],
        update_conflicts=True,
        unique_fields=["user"],
        update_fields=["version"],
    )


def redis_client(url: str) -> Any:
    """One synchronous Redis client per URL and process (redis-py pools its connections)."""
    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            import redis

            client = _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return client


def announce(user_ids: Iterable[Any], using: str = DEFAULT_DB_ALIAS) -> None:
    """Tell every SSE process that these users' inboxes changed. Never raises."""
    ids = sorted({int(pk) for pk in user_ids})
    if not ids:
        return
    try:
        bump_versions(ids, using)
    except Exception:
        logger.exception("DSN inbox: could not bump the inbox versions of %d user(s)", len(ids))
    url = conf.get("REDIS_URL")
    if url:
        # After the commit: a subscriber woken earlier would read the inbox before the items.
        transaction.on_commit(lambda: _publish(url, ids), using=using)
        return
    if connections[using].vendor != "postgresql":
        return
    try:  # NOTIFY inside the transaction: PostgreSQL delivers it at commit, and drops it on rollback
        with connections[using].cursor() as cursor:
            for start in range(0, len(ids), NOTIFY_CHUNK):
                payload = ",".join(map(str, ids[start : start + NOTIFY_CHUNK]))
                cursor.execute("SELECT pg_notify(%s, %s)", [conf.get("CHANNEL"), payload])
    except Exception:
        logger.exception("DSN inbox: could not NOTIFY a change for %d user(s); open pages find it by polling", len(ids))


def _publish(url: str, ids: list[int]) -> None:
    try:
        redis_client(url).publish(conf.get("CHANNEL"), json.dumps(ids))
    except Exception:
        logger.exception(
            "DSN inbox: could not publish a change for %d user(s); open pages find it by polling", len(ids)
        )
