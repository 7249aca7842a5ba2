"""Turning python-telegram-bot's exceptions into the errors DSN's core understands.

==========================  ===========================================================
PTB raises                  DSN records
==========================  ===========================================================
``RetryAfter``              :class:`TransientError` with ``retry_after`` (flood control)
``Forbidden``               :class:`PermanentError` (the user blocked the bot, or the bot
                            left the group); the messenger also deactivates the address
``BadRequest``              :class:`PermanentError` ("chat not found", bad markup ...)
``InvalidToken``            :class:`ConfigurationError` (fix the token, deliveries retry)
``TimedOut``                :class:`TransientError`
``NetworkError``            :class:`TransientError` (connection refused, 5xx ...)
``ChatMigrated``            handled by the messenger: the address moves, the message is resent
==========================  ===========================================================

Every message passes through :func:`dsn_telegram.config.scrub`, so the token never ends
up in a delivery's error, a log line or the admin.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from dsn_core.api import ConfigurationError, DeliveryError, PermanentError, TransientError

from .config import scrub

if TYPE_CHECKING:
    from telegram import error as tg


def retry_after_seconds(exc: tg.RetryAfter) -> float:
    """The delay a ``RetryAfter`` asks for, in seconds.

    Reading ``exc.retry_after`` emits PTB's deprecation warning (v22.2: it is becoming a
    ``timedelta``); the pickling protocol carries the same number without the warning.
    """
    try:
        value = exc.__reduce__()[1][0]
    except (IndexError, TypeError):  # pragma: no cover - a PTB that changed its pickling
        return 1.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def describe(exc: BaseException) -> str:
    """A short, token-free description of ``exc``."""
    from telegram import error as tg  # imported here: only workers need the SDK, not web processes

    text = str(exc) or type(exc).__name__
    return scrub(f"{type(exc).__name__}: {text}" if not isinstance(exc, tg.TelegramError) else text)


def translate(exc: BaseException) -> DeliveryError:
    """The DSN error for an exception raised while sending (``ChatMigrated`` excluded)."""
    if isinstance(exc, DeliveryError):
        return exc
    from telegram import error as tg

    if isinstance(exc, tg.RetryAfter):
        seconds = retry_after_seconds(exc)
        return TransientError(f"Telegram flood control: retry in {seconds:g} s", retry_after=seconds)
    if isinstance(exc, tg.Forbidden):
        return PermanentError(f"Telegram refused the chat (blocked the bot or removed it): {describe(exc)}")
    if isinstance(exc, tg.InvalidToken):
        return ConfigurationError(
            "Telegram rejected the bot token: check DSN['TELEGRAM']['BOT_TOKEN'] "
            "(or DSN_TELEGRAM_BOT_TOKEN) and DSN['TELEGRAM']['API_BASE_URL']."
        )
    if isinstance(exc, tg.BadRequest):  # before NetworkError: it is a subclass
        return PermanentError(f"Telegram refused the message: {describe(exc)}")
    if isinstance(exc, tg.TimedOut):  # before NetworkError: it is a subclass
        return TransientError(f"Telegram timed out: {describe(exc)}")
    if isinstance(exc, tg.NetworkError):
        return TransientError(f"Telegram network error: {describe(exc)}")
    if isinstance(exc, tg.TelegramError):
        return TransientError(f"Telegram error: {describe(exc)}")
    return TransientError(f"unexpected error talking to Telegram: {describe(exc)}")
