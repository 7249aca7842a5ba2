"""The inbox's settings: ``DSN["INBOX"]`` (every key optional)."""

from __future__ import annotations

from typing import Any

from dsn_core.api import setting

DEFAULTS: dict[str, Any] = {
    # Days to keep read (and archived) items; None keeps them for ever. The sweeper prunes.
    "KEEP_DAYS": None,
    # redis://... : workers publish new-item events there and SSE processes subscribe.
    "REDIS_URL": "",
    # Seconds between version polls when neither PostgreSQL nor Redis carries events.
    "POLL_INTERVAL": 0.25,
    # Seconds between SSE keep-alive comments (proxies close idle connections).
    "HEARTBEAT": 15.0,
    # Items per page in the API and the full-page inbox.
    "PAGE_SIZE": 20,
    # Mark-all-read calls allowed per user per minute.
    "MARK_ALL_PER_MINUTE": 10,
    # The PostgreSQL channel workers NOTIFY and SSE processes LISTEN on.
    "CHANNEL": "dsn_inbox",
}


def get(name: str) -> Any:
    """``DSN["INBOX"][name]``, or its default."""
    return setting("INBOX", name, default=DEFAULTS[name])
