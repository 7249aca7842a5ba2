"""Signed, expiring, optionally single-use tokens that fit in a URL or a Telegram deep link.

A token is ``base64url(value|timestamp) + base64url(HMAC)``: only ``A-Za-z0-9_-``, so it
fits Telegram's 64-character ``/start`` payload for short values. The HMAC (SHA-256) is keyed by
``SECRET_KEY`` and salted with the token's *purpose*, so a token made for one purpose is
worthless for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.crypto import constant_time_compare

_SIG_BYTES = 15  # 120 bits, 20 base64 characters
_SIG_CHARS = 20


class BadToken(Exception):
    """The token is forged, expired or already used. ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=32)
def _key(purpose: str, secret: str) -> bytes:
    return hashlib.sha256(f"dsn.tokens.{purpose}".encode() + secret.encode()).digest()


def _signature(purpose: str, payload: str) -> str:
    key = _key(purpose, settings.SECRET_KEY)
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return _b64(digest[:_SIG_BYTES])


def make_token(purpose: str, value: str, *, now: float | None = None) -> str:
    """Sign ``value`` (no ``|`` in it) for ``purpose``, stamped with the current time."""
    if "|" in value:
        raise ValueError("token values cannot contain '|'")
    stamp = int(time.time() if now is None else now)
    payload = _b64(f"{value}|{stamp:x}".encode())
    return payload + _signature(purpose, payload)


def read_token(purpose: str, token: str, *, max_age: float, now: float | None = None) -> str:
    """Return the value of a token made by :func:`make_token`; raise :class:`BadToken`."""
    if not isinstance(token, str) or len(token) <= _SIG_CHARS or len(token) > 1024:
        raise BadToken("forged")
    payload, signature = token[:-_SIG_CHARS], token[-_SIG_CHARS:]
    if not constant_time_compare(signature, _signature(purpose, payload)):
        raise BadToken("forged")
    try:
        value, stamp_hex = _unb64(payload).decode().rsplit("|", 1)
        stamp = int(stamp_hex, 16)
    except (ValueError, UnicodeDecodeError):
        raise BadToken("forged") from None
    current = time.time() if now is None else now
    if current - stamp > max_age:
        raise BadToken("expired")
    return value


def consume_token(purpose: str, token: str, *, max_age: float) -> str:
    """Like :func:`read_token`, but a second use of the same token raises ``BadToken("replayed")``."""
    from .models import UsedToken

    value = read_token(purpose, token, max_age=max_age)
    digest = hashlib.sha256(f"{purpose}:{token}".encode()).hexdigest()
    expires = datetime.now(UTC) + timedelta(seconds=max_age)
    try:
        with transaction.atomic():
            UsedToken.objects.create(digest=digest, expires_at=expires)
    except IntegrityError:
        raise BadToken("replayed") from None
    UsedToken.objects.filter(expires_at__lt=datetime.now(UTC)).delete()
    return value
