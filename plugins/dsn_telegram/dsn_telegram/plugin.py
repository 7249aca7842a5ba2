"""The DSN plugin module (entry point ``dsn`` → ``telegram``): registers the messenger and the URLs."""

from __future__ import annotations

from collections.abc import Callable

from django.urls import URLPattern, path

from dsn_core.api import hookimpl

from .messenger import TelegramMessenger


@hookimpl
def register_messengers(register: Callable[[type], None]) -> None:
    register(TelegramMessenger)


@hookimpl
def urlpatterns() -> list[URLPattern]:
    from . import views, webhooks

    return [
        path("telegram/connect/", views.connect, name="dsn_telegram_connect"),
        path("telegram/webhook/", webhooks.webhook, name="dsn_telegram_webhook"),
    ]
