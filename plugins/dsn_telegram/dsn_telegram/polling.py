"""Long polling (``getUpdates``) for sites without a public HTTPS address.

Each round runs in its own event loop with its own bot (see :mod:`dsn_telegram.transport`):
fetch updates, handle them synchronously (the ORM is synchronous), then send the
replies. Telegram forgets an update once a later ``getUpdates`` passes an ``offset``
above its id, so :func:`poll_once` returns the offset to pass next.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from . import transport
from .linking import Reply, handle_update

if TYPE_CHECKING:
    from telegram import Bot

logger = logging.getLogger("dsn_telegram.polling")


def fetch(offset: int | None, timeout: int) -> list[dict[str, Any]]:
    """Updates after ``offset`` (waiting up to ``timeout`` seconds), as Bot API dicts."""

    async def work(bot: Bot) -> list[dict[str, Any]]:
        updates = await bot.get_updates(offset=offset, timeout=timeout, allowed_updates=["message"])
        return [update.to_dict() for update in updates]

    return transport.run(work)


def send_replies(replies: list[Reply]) -> list[str]:
    """Send the replies; return a token-free description of each failure."""
    if not replies:
        return []

    async def work(bot: Bot) -> list[str]:
        from .errors import translate

        failures: list[str] = []
        for reply in replies:
            try:
                await bot.send_message(chat_id=reply.chat_id, text=reply.text)
            except Exception as exc:
                failures.append(f"chat {reply.chat_id}: {translate(exc)}")
        return failures

    return transport.run(work)


def poll_once(offset: int | None, timeout: int = 0) -> tuple[int | None, list[Reply]]:
    """One round: fetch, handle, reply. Returns ``(next offset, replies sent)``."""
    updates = fetch(offset, timeout)
    replies: list[Reply] = []
    for update in updates:
        update_id = update.get("update_id")
        if isinstance(update_id, int):
            offset = max(offset or 0, update_id + 1)
        try:
            reply = handle_update(update)
        except Exception:
            logger.exception("DSN Telegram: failed to handle update %s", update_id)
            continue
        if reply is not None:
            replies.append(reply)
    for failure in send_replies(replies):
        logger.warning("DSN Telegram: could not reply: %s", failure)
    return offset, replies


def acknowledge(offset: int | None) -> None:
    """Tell Telegram every update below ``offset`` was handled (without waiting for more).

    A failure is only logged: the updates come again next time, and handling them twice
    is harmless (a used link is refused, a second ``/stop`` finds nothing to unlink).
    """
    if offset is None:
        return
    try:
        fetch(offset, 0)
    except Exception as exc:
        from .errors import describe

        logger.warning("DSN Telegram: could not confirm updates below %s: %s", offset, describe(exc))
