"""Fixtures for the email channel: a real SMTP server and settings pointing at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.dsn_email.smtp_server import FakeSMTP

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
FROM = "DSN Test <noreply@dsn.test>"


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as server:
        yield server


@pytest.fixture
def email_settings(settings: Any) -> Callable[..., dict[str, Any]]:
    """``email_settings(**EMAIL)`` replaces ``DSN["EMAIL"]`` for this test."""

    def apply(**values: Any) -> dict[str, Any]:
        settings.DSN = {**settings.DSN, "EMAIL": values}
        return values

    return apply


def smtp_connection(port: int, **options: Any) -> dict[str, Any]:
    """A ``CONNECTIONS`` entry for the SMTP server on 127.0.0.1:``port``."""
    return {"BACKEND": SMTP_BACKEND, "OPTIONS": {"host": "127.0.0.1", "port": port, **options}}


@pytest.fixture
def smtp_settings(smtp: FakeSMTP, email_settings: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """``DSN["EMAIL"]`` with a connection ``"test"`` to the fake SMTP server."""
    return email_settings(
        FROM=FROM, REPLY_TO="help@dsn.test", TIMEOUT=5, CONNECTIONS={"test": smtp_connection(smtp.port)}
    )


@pytest.fixture
def messenger(smtp_settings: dict[str, Any]) -> Any:
    from dsn_email.messenger import EmailMessenger

    return EmailMessenger({"connection": "test"})
