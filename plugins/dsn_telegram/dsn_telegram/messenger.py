"""The ``telegram`` messenger: sends messages with python-telegram-bot's ``Bot.send_message``.

Backend options:

``parse_mode``
    ``plain`` (default), ``HTML`` or ``MarkdownV2``. Values a template substitutes are
    escaped for the mode, so only the template's own markup is interpreted.
``chat_id``
    Send to this chat, group or channel (``-1001234567890`` or ``@channelname``) instead
    of each receiver's linked chat. The core keeps one delivery per event and address, so
    the chat gets one message per event however many receivers the subscription has.
``show_subject``
    Put the rendered subject in bold above the text (default: off; Telegram has no subject).
``silent``
    Deliver without a notification sound.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured, ValidationError

from dsn_core.api import (
    ConfigurationError,
    DeliveryError,
    Message,
    Messenger,
    Option,
    Outcome,
    PermanentError,
    RateLimit,
    SendResult,
    TransientError,
    addresses,
)

from . import config, markup, transport
from .errors import translate

if TYPE_CHECKING:
    from telegram import Bot

logger = logging.getLogger("dsn_telegram")

KEY = "telegram"
_CHAT_ID = re.compile(r"^-?\d{1,20}$")
_CHANNEL_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")
_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}

#: About 30 messages a second for one bot, over all chats.
BOT_LIMIT = RateLimit(30, 1.0)
#: One message a second to one private chat.
CHAT_LIMIT = RateLimit(1, 1.0, scope="address")
#: Twenty messages a minute to one group or channel.
GROUP_LIMIT = RateLimit(20, 60.0, scope="address")


def is_group(address: str) -> bool:
    """Whether ``address`` is a group, supergroup or channel (negative id or ``@name``)."""
    return address.startswith(("-", "@"))


class TelegramMessenger(Messenger):
    """Sends each message to a Telegram chat through the Bot API."""

    key = KEY
    label = "Telegram"
    options = (
        Option("parse_mode", "plain, HTML or MarkdownV2", default=markup.PLAIN, choices=markup.PARSE_MODES),
        Option("chat_id", "send to this chat/group/channel id or @channelname instead of each receiver"),
        Option("show_subject", "put the subject in bold above the text", default=False, type=bool),
        Option("silent", "deliver without a notification sound", default=False, type=bool),
    )
    rate_limits = (BOT_LIMIT, CHAT_LIMIT)
    max_batch_size = 50
    supports_fixed_addresses = True
    #: Chats come from the address book (or the ``chat_id`` option): no user field is read.
    user_fields = ()

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.parse_mode: str = self.option_values.get("parse_mode", markup.PLAIN)
        self.text_format = "html" if self.parse_mode == markup.HTML else "plain"
        self._session: transport.Session | None = None

    # -- configuration ---------------------------------------------------------------

    @classmethod
    def clean_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """The base checks, plus a valid ``chat_id`` and booleans given as text."""
        options = dict(options)
        for name in ("show_subject", "silent"):
            value = options.get(name)
            if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
                options[name] = _BOOLEANS[value.strip().lower()]
        cleaned = super().clean_options(options)
        if cleaned.get("chat_id") not in (None, ""):
            try:
                cleaned["chat_id"] = cls.clean_address(str(cleaned["chat_id"]))
            except ValidationError as exc:
                raise ValidationError([f"Option 'chat_id': {m}" for m in exc.messages]) from exc
        return cleaned

    @classmethod
    def check(cls) -> list[CheckMessage]:
        """Errors for a missing or malformed token, warnings for what linking needs."""
        messages: list[CheckMessage] = []
        try:
            token = config.bot_token()
        except ImproperlyConfigured as exc:
            messages.append(
                Error(
                    f"DSN Telegram: no bot token. {exc}",
                    hint="Create a bot with @BotFather and put its token in DSN['TELEGRAM']['BOT_TOKEN'] "
                    "or the environment variable DSN_TELEGRAM_BOT_TOKEN.",
                    id="dsn_telegram.E001",
                )
            )
        else:
            if not config.TOKEN_RE.match(token):
                messages.append(
                    Error(
                        "DSN Telegram: DSN['TELEGRAM']['BOT_TOKEN'] does not look like a bot token "
                        "(expected <digits>:<secret>, as @BotFather gives it).",
                        id="dsn_telegram.E002",
                    )
                )
        if not config.bot_username():
            messages.append(
                Warning(
                    "DSN Telegram: DSN['TELEGRAM']['BOT_USERNAME'] is not set, so users cannot link their chats.",
                    hint="Set it to the bot's username (without @).",
                    id="dsn_telegram.W001",
                )
            )
        secret = config.webhook_secret()
        if secret and not config.SECRET_RE.match(secret):
            messages.append(
                Error(
                    "DSN Telegram: DSN['TELEGRAM']['WEBHOOK_SECRET'] must be 1-256 characters "
                    "of A-Z, a-z, 0-9, _ and -.",
                    id="dsn_telegram.E003",
                )
            )
        base = config.api_base_url()
        if not base.startswith(("http://", "https://")):
            messages.append(
                Error("DSN Telegram: DSN['TELEGRAM']['API_BASE_URL'] must start with https://.", id="dsn_telegram.E004")
            )
        return messages

    # -- addresses -------------------------------------------------------------------

    @classmethod
    def clean_address(cls, address: str) -> str:
        """Accept a numeric chat id (negative for groups and channels) or ``@channelname``."""
        address = str(address).strip()
        if _CHAT_ID.match(address) and address not in ("0", "-0"):
            return str(int(address))
        if _CHANNEL_USERNAME.match(address):
            return address
        raise ValidationError(
            f"{address!r} is not a Telegram chat: give a numeric chat id (groups and channels are "
            "negative, like -1001234567890) or a public channel's @username."
        )

    def backend_addresses(self) -> list[str]:
        """The backend's ``chat_id`` (an ops group or channel), which replaces the users' chats."""
        chat_id = self.option_values.get("chat_id")
        return [str(chat_id)] if chat_id else []

    def rate_limits_for(self, address: str) -> Sequence[RateLimit]:
        """30/s per bot; 1/s per private chat, 20/min per group or channel."""
        return (BOT_LIMIT, GROUP_LIMIT if is_group(address) else CHAT_LIMIT)

    # -- rendering -------------------------------------------------------------------

    def escape(self, value: str) -> str:
        """Escape a substituted value for this backend's parse mode."""
        return markup.escape(value, self.parse_mode)

    def compose(self, message: Message) -> list[str]:
        """The text parts to send for ``message``: optional bold subject, split to fit."""
        text = message.text
        if self.option_values.get("show_subject") and message.subject:
            heading = markup.bold(markup.escape(message.subject, self.parse_mode), self.parse_mode)
            text = f"{heading}\n\n{text}" if text else heading
        if not text.strip():
            raise PermanentError("the message is empty: Telegram cannot send an empty text")
        try:
            return markup.split_text(text, self.parse_mode)
        except ValueError as exc:
            raise PermanentError(f"cannot split the message for Telegram: {exc}") from exc

    # -- sending ---------------------------------------------------------------------

    def send(self, message: Message) -> SendResult:
        """Send one message (see :meth:`send_batch`)."""
        outcome = self.send_batch([message])[0]
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    def open(self) -> None:
        """Keep one event loop and bot for every batch until :meth:`close`.

        Inside a running event loop (an async view) batches fall back to a loop of their
        own; a configuration problem is reported per message by :meth:`send_batch`.
        """
        if self._session is not None:
            return
        try:
            asyncio.get_running_loop()
            return
        except RuntimeError:
            pass
        try:
            self._session = transport.Session()
        except ImproperlyConfigured:
            self._session = None

    def close(self) -> None:
        """Shut the bot's HTTP client down and close the loop."""
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def send_batch(self, messages: Sequence[Message]) -> list[Outcome]:
        """Send every message in order, in one event loop with one bot; one outcome each.

        After an invalid token or flood control, the rest of the batch is not attempted
        and gets the same error.
        """
        if not messages:
            return []
        book: list[tuple[str, str, str]] = []
        try:
            if self._session is not None:
                outcomes = self._session.run(lambda bot: self._send_all(bot, messages, book))
            else:
                outcomes = transport.run(lambda bot: self._send_all(bot, messages, book))
        except ImproperlyConfigured as exc:
            return [ConfigurationError(str(exc))] * len(messages)
        finally:
            self._update_address_book(book)
        return outcomes

    def _update_address_book(self, book: Sequence[tuple[str, str, str]]) -> None:
        """Apply what the chats told us, outside the event loop (the ORM is synchronous)."""
        for action, old, new in book:
            if action == "replace":
                moved = addresses.replace(self.key, old, new)
                logger.warning(
                    "DSN Telegram: chat %s migrated to %s; %d address book entries updated. "
                    "Update backend options and fixed addresses that still name %s.",
                    old,
                    new,
                    moved,
                    old,
                )
            else:
                count = addresses.deactivate(self.key, old)
                logger.info("DSN Telegram: chat %s refused the bot; %d address(es) deactivated", old, count)

    async def _send_all(self, bot: Bot, messages: Sequence[Message], book: list[tuple[str, str, str]]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        stop: DeliveryError | None = None
        for message in messages:
            if stop is not None:
                outcomes.append(stop)
                continue
            outcome = await self._send_one(bot, message, book)
            outcomes.append(outcome)
            if isinstance(outcome, ConfigurationError):
                stop = outcome
            elif isinstance(outcome, TransientError) and outcome.retry_after:
                stop = TransientError(f"not attempted: {outcome.message}", retry_after=outcome.retry_after)
        return outcomes

    async def _send_one(self, bot: Bot, message: Message, book: list[tuple[str, str, str]]) -> Outcome:
        from telegram import error as tg  # imported here: only workers need the SDK, not web processes

        target = message.address
        try:
            if not target:
                raise PermanentError("no address")
            parts = self.compose(message)
            try:
                ids = await self._send_parts(bot, target, parts)
                return SendResult(provider_id=",".join(ids)[:255])
            except tg.ChatMigrated as migrated:
                old, target = target, str(migrated.new_chat_id)
                book.append(("replace", old, target))
                ids = await self._send_parts(bot, target, parts)
                return SendResult(provider_id=",".join(ids)[:255], new_address=target)
        except tg.Forbidden as exc:
            error = translate(exc)
            book.append(("deactivate", target, ""))
            return error
        except DeliveryError as exc:
            return exc
        except Exception as exc:
            error = translate(exc)
            if isinstance(error, ConfigurationError):
                logger.error("DSN Telegram: %s", error)
            return error

    async def _send_parts(self, bot: Bot, chat_id: str, parts: Sequence[str]) -> list[str]:
        ids: list[str] = []
        for part in parts:
            sent = await bot.send_message(
                chat_id=chat_id,
                text=part,
                parse_mode=markup.api_parse_mode(self.parse_mode),
                disable_notification=bool(self.option_values.get("silent")),
            )
            ids.append(str(sent.message_id))
        return ids


__all__ = ["KEY", "TelegramMessenger", "is_group"]
