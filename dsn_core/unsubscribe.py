"""One-click unsubscribe: signed, expiring URLs (RFC 8058) and the opt-out they record."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, get_urlconf, reverse

from . import conf
from .tokens import make_token

PURPOSE = "unsubscribe"
MAX_AGE = 60 * 60 * 24 * 60  # 60 days


def unsubscribe_token(user_id: Any, messenger: str, subscription_id: Any) -> str:
    """A token that opts ``user_id`` out of ``messenger`` for one subscription."""
    return make_token(PURPOSE, f"{user_id}.{messenger}.{subscription_id or ''}")


_MARK = "DSNTOKEN"


@lru_cache(maxsize=8)
def _url_pattern(urlconf: Any, base: str) -> str:
    """The unsubscribe URL with a marker for the token: one reverse() per process."""
    if urlconf is None:  # a worker-only settings module, or a site with no URLs at all
        return ""
    try:
        return base.rstrip("/") + reverse("dsn_core:unsubscribe", args=[_MARK], urlconf=urlconf)
    except NoReverseMatch:
        return ""


def url_pattern() -> str:
    """The unsubscribe URL with a marker where the token goes.

    ``""`` when the site does not mount ``dsn_core.urls`` (or has no ``ROOT_URLCONF``):
    messages then go out without an unsubscribe link.
    """
    return _url_pattern(get_urlconf() or getattr(settings, "ROOT_URLCONF", None), conf.get("BASE_URL"))


def unsubscribe_url(delivery: Any, pattern: str | None = None) -> str:
    """The absolute (when ``DSN["BASE_URL"]`` is set) unsubscribe URL for a delivery.

    ``pattern``: :func:`url_pattern`, when the caller builds many URLs in a row.
    """
    if pattern is None:
        pattern = url_pattern()
    if not pattern:
        return ""
    token = unsubscribe_token(delivery.recipient_id, delivery.messenger, delivery.subscription_id)
    return pattern.replace(_MARK, token)


@lru_cache(maxsize=8)
def _preferences_url(urlconf: Any, base: str) -> str:
    if urlconf is None:
        return ""
    try:
        return base.rstrip("/") + reverse("dsn_core:preferences", urlconf=urlconf)
    except NoReverseMatch:
        return ""


def preferences_url() -> str:
    """The end users' preferences page, absolute when ``DSN["BASE_URL"]`` is set; ``""`` when the
    site does not mount ``dsn_core.urls``.

    The same for every recipient and not signed: the page asks the person to log in
    (``settings.LOGIN_URL``), so a forwarded message never lets someone else change their settings.
    """
    return _preferences_url(get_urlconf() or getattr(settings, "ROOT_URLCONF", None), conf.get("BASE_URL"))
