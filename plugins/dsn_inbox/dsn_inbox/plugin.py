"""The DSN plugin module (entry point ``dsn`` → ``inbox``): the messenger, the URLs, the sweep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.urls import URLPattern

from dsn_core.api import hookimpl

from .messenger import InboxMessenger


@hookimpl
def register_messengers(register: Callable[[type], None]) -> None:
    register(InboxMessenger)


@hookimpl
def urlpatterns() -> list[URLPattern]:
    from django.apps import apps

    if not apps.is_installed("dsn_inbox"):
        return []  # the messenger's system check says what to do
    from .urls import patterns

    return patterns()


@hookimpl
def sweep(now: datetime) -> dict[str, int] | None:
    """Delete read items older than ``DSN["INBOX"]["KEEP_DAYS"]`` (ten batches per sweep)."""
    from django.apps import apps

    if not apps.is_installed("dsn_inbox"):
        return None
    from .retention import prune_from_settings

    pruned = prune_from_settings(now=now)
    return None if pruned is None else {"inbox_pruned": pruned}
