"""Turning tweepy and ``requests`` exceptions into DSN delivery errors."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from dsn_core.api import ConfigurationError, DeliveryError, PermanentError, TransientError, redact_error

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
    # Imported here, not at module level: only workers, which send, need tweepy and requests.
    import requests
    import tweepy

    if isinstance(exc, tweepy.TooManyRequests):
        wait = None
        if exc.reset_time is not None:
            wait = max(1.0, float(exc.reset_time) - time.time())
        error: DeliveryError = TransientError(describe(exc), retry_after=wait)
    elif isinstance(exc, tweepy.Unauthorized):
        error = ConfigurationError(describe(exc) + " (check the CONSUMER_* and ACCESS_TOKEN* settings)")
    elif isinstance(exc, tweepy.Forbidden):
        text = describe(exc)
        lowered = text.lower()
        if "duplicate" in lowered:
            error = PermanentError(f"duplicate: X refuses a post identical to a recent one ({text})")
        elif any(hint in lowered for hint in APP_SETUP_HINTS):
            error = ConfigurationError(text)
        else:
            error = PermanentError(text)
    elif isinstance(exc, tweepy.TwitterServerError):
        error = TransientError(describe(exc))
    elif isinstance(exc, tweepy.HTTPException):
        status = getattr(exc.response, "status_code", 0) or 0
        error = TransientError(describe(exc)) if status >= 500 or status == 408 else PermanentError(describe(exc))
    elif isinstance(exc, requests.Timeout):
        error = TransientError(f"X did not answer in time ({type(exc).__name__})")
    elif isinstance(exc, requests.ConnectionError):
        error = TransientError(f"cannot connect to X ({type(exc).__name__})")
    elif isinstance(exc, (requests.RequestException, ValueError)):
        error = TransientError(f"unexpected answer from X: {type(exc).__name__}: {exc}")
    else:
        raise exc
    return redact_error(error, secrets)
