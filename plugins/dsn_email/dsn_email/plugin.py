"""The DSN plugin module (the ``dsn`` entry point ``email`` points here)."""

from __future__ import annotations

from collections.abc import Callable

from dsn_core.api import hookimpl

from . import webhooks
from .messenger import EmailMessenger


@hookimpl
def register_messengers(register: Callable[[type], None]) -> None:
    """Register the ``email`` messenger."""
    register(EmailMessenger)


@hookimpl
def ready() -> None:
    """Record django-anymail's tracking events (bounces, complaints) as DSN receipts."""
    webhooks.connect()
