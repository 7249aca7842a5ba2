"""Turning tweepy exceptions (and ``requests`` ones, through :mod:`dsn_core.http`) into DSN delivery errors."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from dsn_core.api import (
    ConfigurationError,
    DeliveryError,
    PermanentError,
    TransientError,
    error_for_exception,
    error_for_status,
    redact_error,
    retry_after_from,
)

if TYPE_CHECKING:
    import tweepy

#: Words in a 403 answer that mean the app or its keys are set up wrong, not the message.
APP_SETUP_HINTS = ("oauth1 app permissions", "client-not-enrolled", "attached to a project", "app permissions")


def describe(exc: tweepy.HTTPException) -> str:
    """``"<status> <api messages>"`` of a tweepy HTTP error, on one line."""
    status = getattr(exc.response, "status_code", "?")
    detail = "; ".join(str(m) for m in exc.api_messages) or str(getattr(exc.response, "reason", "") or "")
    return f"X API HTTP {status}: {detail}".rstrip(": ")


def translate(exc: Exception, secrets: tuple[str, ...] = ()) -> DeliveryError:
    """The DSN error for an exception raised by tweepy; secrets are scrubbed from its text."""
    # Imported here, not at module level: only workers, which send, need tweepy.
    import tweepy

    if isinstance(exc, tweepy.HTTPException):
        error = _from_answer(exc)
    elif (http_error := error_for_exception(exc, provider="X", secrets=secrets)) is not None:
        return http_error
    elif isinstance(exc, ValueError):  # an answer tweepy could not parse
        error = TransientError(f"unexpected answer from X: {type(exc).__name__}: {exc}")
    else:
        raise exc
    return redact_error(error, secrets)


def _from_answer(exc: tweepy.HTTPException) -> DeliveryError:
    """X's refinements first (rate-limit reset time, duplicate posts, app set-up), then the HTTP status."""
    import tweepy

    text = describe(exc)
    headers = getattr(exc.response, "headers", None) or {}
    if isinstance(exc, tweepy.TooManyRequests):
        wait = retry_after_from(headers)
        if wait is None and exc.reset_time is not None:
            wait = max(1.0, float(exc.reset_time) - time.time())
        return TransientError(text, retry_after=wait)
    if isinstance(exc, tweepy.Unauthorized):
        return ConfigurationError(text + " (check the CONSUMER_* and ACCESS_TOKEN* settings)")
    if isinstance(exc, tweepy.Forbidden):
        lowered = text.lower()
        if "duplicate" in lowered:
            return PermanentError(f"duplicate: X refuses a post identical to a recent one ({text})")
        if any(hint in lowered for hint in APP_SETUP_HINTS):
            return ConfigurationError(text)
        return PermanentError(text)  # X forbids this post (policy, a DM the user does not accept ...)
    status = int(getattr(exc.response, "status_code", 0) or 0)
    error = error_for_status(status, provider="X", headers=headers)
    if error is None:
        return TransientError(text)
    return type(error)(text, retry_after=error.retry_after)
