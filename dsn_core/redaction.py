"""Keeping secrets out of what DSN stores and shows (delivery errors, admin messages, logs).

A secret is the value of a setting whose name says so (``TOKEN``, ``SECRET``, ``PASSWORD``,
``KEY``, ``AUTH``) in a plugin section of ``settings.DSN``, a ``DSN_*`` environment variable
with such a name, Django's ``EMAIL_HOST_PASSWORD``, or a password in Django 6.1's ``MAILERS``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import mail

from .errors import DeliveryError

SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY", "AUTH", "SID")
MASK = "***"


def _secret_name(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def secret_values() -> set[str]:
    """The configured secret values (at least 6 characters, so masking stays meaningful)."""
    found: set[str] = set()

    def walk(name: str, value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= 6 and _secret_name(name):
                found.add(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(str(key), item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(name, item)

    for key, section in (getattr(settings, "DSN", None) or {}).items():
        if isinstance(key, str) and key.isupper() and isinstance(section, dict):
            walk(key, section)
    for key, value in os.environ.items():
        if key.startswith("DSN_") and _secret_name(key[4:]) and len(value) >= 6:
            found.add(value)
    mailers = getattr(settings, "MAILERS", None)  # Django 6.1+: each mailer's OPTIONS
    if isinstance(mailers, dict):
        walk("MAILERS", mailers)
    password = _email_host_password()
    if isinstance(password, str) and len(password) >= 6:
        found.add(password)
    return found


def _email_host_password() -> Any:
    """``EMAIL_HOST_PASSWORD``, read without Django 6.1's deprecation warning for it.

    On 6.1+ the setting is deprecated (``MAILERS`` replaces it): read it only when the site set
    it, and do not warn again (Django already warned when the settings loaded).
    """
    if not hasattr(mail, "mailers"):
        return getattr(settings, "EMAIL_HOST_PASSWORD", "")
    if getattr(settings, "MAILERS", None) is not None or not settings.is_overridden("EMAIL_HOST_PASSWORD"):
        return ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(settings, "EMAIL_HOST_PASSWORD", "")


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every configured secret (and every value in ``extra``) replaced by ``***``."""
    values = secret_values() | {v for v in extra if v}
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_error(error: DeliveryError, extra: Iterable[str] = ()) -> DeliveryError:
    """The same delivery error with secrets masked in its text (the error itself if none)."""
    text = redact(error.message, extra)
    if text == error.message:
        return error
    return type(error)(text, retry_after=error.retry_after)
