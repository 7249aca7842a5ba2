"""Keep the bot token out of log files.

httpx logs every request URL at INFO level and PTB logs its base URL at DEBUG level; both
URLs contain the bot token. :func:`install` adds a filter to those libraries' loggers that
replaces the token with ``<token>`` before any handler sees the record.
"""

from __future__ import annotations

import logging

from .config import scrub

#: Loggers whose records may carry request URLs.
LIBRARY_LOGGERS = ("httpx", "httpcore", "telegram")


class TokenFilter(logging.Filter):
    """Rewrites each record's message with the bot token scrubbed."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = TokenFilter()


def install() -> None:
    """Attach the filter to the HTTP and PTB loggers (those that exist now included). Idempotent."""
    names = [
        name
        for name in list(logging.Logger.manager.loggerDict)
        if any(name == root or name.startswith(root + ".") for root in LIBRARY_LOGGERS)
    ]
    for name in {*LIBRARY_LOGGERS, *names}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
