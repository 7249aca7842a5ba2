"""Django app config: ships the "Connect Telegram" template and the polling command."""

from __future__ import annotations

from django.apps import AppConfig


class DsnTelegramConfig(AppConfig):
    name = "dsn_telegram"
    label = "dsn_telegram"
    verbose_name = "DSN Telegram"
