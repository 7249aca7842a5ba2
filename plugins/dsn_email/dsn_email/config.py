"""The plugin's settings: ``settings.DSN["EMAIL"]``, read through :func:`dsn_core.conf.setting`.

=====================  =======================================================================
``USER_ATTRIBUTE``     Attribute of the user holding their email address (default ``"email"``).
``FROM``               Default From address (env ``DSN_EMAIL_FROM``; default ``DEFAULT_FROM_EMAIL``).
``REPLY_TO``           Default Reply-To address(es): a string (comma-separated) or a list.
``CONNECTIONS``        Named connections: ``{"alias": {"BACKEND": ..., "OPTIONS": {...}}}``.
``TIMEOUT``            Socket timeout (seconds) for SMTP connections built from ``CONNECTIONS``
                       (default 30); Django's own default is no timeout at all.
``RATE_LIMIT``         ``(count, per_seconds)``: at most that many emails for all workers together.
``VERIFY_CONNECTIONS`` Open every connection during ``manage.py check`` (default ``False``).
=====================  =======================================================================
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from dsn_core.api import setting

SECTION = "EMAIL"


def user_attribute() -> str:
    """The user attribute that holds the email address."""
    return str(setting(SECTION, "USER_ATTRIBUTE", default="email"))


def default_from() -> str:
    """The From address used when a backend does not set ``from_email``."""
    return str(setting(SECTION, "FROM", env="DSN_EMAIL_FROM", default=settings.DEFAULT_FROM_EMAIL))


def split_addresses(value: Any) -> list[str]:
    """A list of addresses from a comma-separated string or a list/tuple (blanks dropped)."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


def default_reply_to() -> list[str]:
    """The Reply-To addresses used when a backend does not set ``reply_to``."""
    return split_addresses(setting(SECTION, "REPLY_TO", default=None))


def connections() -> dict[str, Any]:
    """``DSN["EMAIL"]["CONNECTIONS"]`` (an empty dict when unset)."""
    value = setting(SECTION, "CONNECTIONS", default=None)
    return value if isinstance(value, dict) else {}


def timeout() -> float | None:
    """Default socket timeout for SMTP connections that DSN builds."""
    value = setting(SECTION, "TIMEOUT", default=30)
    return None if value is None else float(value)


def rate_limit() -> tuple[int, float] | None:
    """``(count, per)`` from ``DSN["EMAIL"]["RATE_LIMIT"]``, or ``None``."""
    value = setting(SECTION, "RATE_LIMIT", default=None)
    if not value:
        return None
    count, per = value
    return int(count), float(per)


def verify_connections() -> bool:
    """Whether ``manage.py check`` opens each connection."""
    return bool(setting(SECTION, "VERIFY_CONNECTIONS", default=False))
