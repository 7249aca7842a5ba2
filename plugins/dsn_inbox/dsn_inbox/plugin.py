"""The DSN plugin module (entry point ``dsn`` → ``inbox``): the messenger, the URLs, the sweep."""

from __future__ import annotations

from collections.abc import Callable

from django.urls import URLPattern

from dsn_core import hookimpl

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
