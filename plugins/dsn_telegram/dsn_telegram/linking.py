"""Linking a Telegram chat to a site user, and unlinking it.

1. A logged-in user opens the "Connect Telegram" page, which shows the deep link
   ``https://t.me/<bot>?start=<payload>``; the payload is a signed, expiring, single-use
   token (purpose :data:`PURPOSE`) holding the user's primary key.
2. The user presses *Start* in Telegram; the bot receives ``/start <payload>`` (by webhook
   or by polling) and :func:`handle_update` stores the chat id in the core's address book.
3. ``/stop`` in the chat removes the link.

:func:`handle_update` takes a Bot API ``Update`` as a dict and returns the reply to send
(or ``None``); the webhook view and the polling command deliver the reply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model

from dsn_core.api import BadToken, addresses, consume_token, make_token

from . import config

logger = logging.getLogger("dsn_telegram.linking")

PURPOSE = "telegram-link"
#: Telegram's limit for a ``/start`` payload.
MAX_PAYLOAD = 64
KEY = "telegram"

LINKED = "Your Telegram chat is now connected to {user}. You will receive notifications here. Send /stop to disconnect."
UNLINKED = "This chat is disconnected: you will receive no more notifications here."
NOT_LINKED = "This chat is not connected to any account."
HELLO = "To connect this chat, open the “Connect Telegram” page on the site and follow the link from there."
GROUP = "Notifications can only be connected from a private chat with the bot."
BAD = {
    "forged": "This link is not valid. Open the “Connect Telegram” page again for a new one.",
    "expired": "This link has expired. Open the “Connect Telegram” page again for a new one.",
    "replayed": "This link was already used. Open the “Connect Telegram” page again for a new one.",
    "unknown": "The account for this link no longer exists or is inactive.",
}


@dataclass(frozen=True)
class Reply:
    """A text to send back to ``chat_id``, and what happened (for logs and tests)."""

    chat_id: int
    text: str
    outcome: str


def link_payload(user: Any) -> str:
    """A fresh ``/start`` payload for ``user``; ``ValueError`` if it would not fit in 64 characters."""
    token = make_token(PURPOSE, str(user.pk))
    if len(token) > MAX_PAYLOAD:
        raise ValueError(
            f"the link token for this user is {len(token)} characters, Telegram allows {MAX_PAYLOAD} "
            "(primary keys of up to about 20 characters fit)"
        )
    return token


def deep_link(user: Any) -> str:
    """``https://t.me/<bot>?start=<payload>`` for ``user``; needs ``DSN["TELEGRAM"]["BOT_USERNAME"]``."""
    username = config.bot_username()
    if not username:
        raise ValueError("set DSN['TELEGRAM']['BOT_USERNAME'] to the bot's username to make links")
    return f"https://t.me/{username}?start={link_payload(user)}"


def _command(text: str) -> tuple[str, str]:
    """``("/start", "payload")`` from ``"/start@MyBot payload"``; lower-cased command."""
    head, _, rest = text.strip().partition(" ")
    command, _, bot = head.partition("@")
    username = config.bot_username()
    if bot and username and bot.lower() != username.lower():
        return "", ""  # a command meant for another bot in the same group
    return command.lower(), rest.strip()


def link(chat_id: int, payload: str) -> Reply:
    """Consume ``payload`` and store ``chat_id`` as the user's Telegram address."""
    try:
        user_pk = consume_token(PURPOSE, payload, max_age=config.link_max_age())
    except BadToken as exc:
        logger.info("DSN Telegram: refused a link from chat %s: %s payload", chat_id, exc.reason)
        return Reply(chat_id, BAD[exc.reason], exc.reason)
    user = get_user_model()._default_manager.filter(pk=user_pk, is_active=True).first()
    if user is None:
        return Reply(chat_id, BAD["unknown"], "unknown")
    addresses.set_address(user, KEY, str(chat_id), verified=True)
    logger.info("DSN Telegram: chat %s linked to user %s", chat_id, user.pk)
    return Reply(chat_id, LINKED.format(user=user.get_username()), "linked")


def unlink(chat_id: int) -> Reply:
    """Forget every link to ``chat_id``."""
    user = addresses.find_user(KEY, str(chat_id))
    if user is None:
        return Reply(chat_id, NOT_LINKED, "not-linked")
    addresses.remove_address(user, KEY)
    logger.info("DSN Telegram: chat %s unlinked from user %s", chat_id, user.pk)
    return Reply(chat_id, UNLINKED, "unlinked")


def handle_update(update: dict[str, Any]) -> Reply | None:
    """Act on one Bot API update; return the reply to send, or ``None`` to stay silent."""
    message = update.get("message") if isinstance(update, dict) else None
    if not isinstance(message, dict):
        return None
    chat = message.get("chat") or {}
    text = message.get("text")
    chat_id = chat.get("id")
    if not isinstance(text, str) or not isinstance(chat_id, int) or not text.startswith("/"):
        return None
    command, argument = _command(text)
    if command not in ("/start", "/stop"):
        return None
    if chat.get("type") != "private":
        return Reply(chat_id, GROUP, "group")
    if command == "/stop":
        return unlink(chat_id)
    if not argument:
        return Reply(chat_id, HELLO, "hello")
    return link(chat_id, argument)
