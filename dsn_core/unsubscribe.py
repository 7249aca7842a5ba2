"""One-click unsubscribe: signed, expiring URLs (RFC 8058) and the opt-out they record."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

from . import conf
from .tokens import make_token

PURPOSE = "unsubscribe"
MAX_AGE = 60 * 60 * 24 * 60  # 60 days


def unsubscribe_token(user_id: Any, messenger: str, subscription_id: Any) -> str:
    """A token that opts ``user_id`` out of ``messenger`` for one subscription."""
    return make_token(PURPOSE, f"{user_id}.{messenger}.{subscription_id or ''}")


def unsubscribe_url(delivery: Any) -> str:
    """The absolute (when ``DSN["BASE_URL"]`` is set) unsubscribe URL for a delivery."""
    try:
        path = reverse("dsn_core:unsubscribe", args=[
            unsubscribe_token(delivery.recipient_id, delivery.messenger, delivery.subscription_id)
        ])
    except NoReverseMatch:
        return ""
    return conf.get("BASE_URL").rstrip("/") + path
