"""``manage.py dsn_telegram_poll``: receive Telegram updates by long polling.

Use it instead of the webhook when the site has no public HTTPS address. It handles
``/start <payload>`` (linking) and ``/stop`` (unlinking) like the webhook does.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from telegram import error as tg

from dsn_telegram import polling
from dsn_telegram.config import scrub

logger = logging.getLogger("dsn_telegram.polling")


class Command(BaseCommand):
    help = "Receive Telegram updates by long polling (for sites without a public webhook URL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Handle the waiting updates once and exit.")
        parser.add_argument("--timeout", type=int, default=30, help="Seconds each getUpdates call may wait (30).")

    def handle(self, *args: Any, once: bool = False, timeout: int = 30, **options: Any) -> None:
        offset: int | None = None
        delay = 1.0
        if not once:
            self.stdout.write("Polling Telegram for updates; press Ctrl+C to stop.")
        try:
            while True:
                try:
                    offset, replies = polling.poll_once(offset, 0 if once else timeout)
                    delay = 1.0
                except ImproperlyConfigured as exc:
                    raise CommandError(str(exc)) from exc
                except tg.InvalidToken as exc:
                    raise CommandError("Telegram rejected the bot token: check DSN['TELEGRAM']['BOT_TOKEN'].") from exc
                except tg.Conflict as exc:
                    raise CommandError(
                        "Telegram refuses getUpdates while a webhook is set (or another poller runs): "
                        f"{scrub(str(exc))}. Delete the webhook (deleteWebhook) to poll."
                    ) from exc
                except (tg.TelegramError, OSError) as exc:
                    if once:
                        raise CommandError(f"Telegram polling failed: {scrub(str(exc))}") from exc
                    logger.warning("DSN Telegram: polling failed (%s); retrying in %.0f s", scrub(str(exc)), delay)
                    time.sleep(delay)
                    delay = min(delay * 2, 60.0)
                    continue
                for reply in replies:
                    self.stdout.write(f"chat {reply.chat_id}: {reply.outcome}")
                if once:
                    polling.acknowledge(offset)
                    return
        except KeyboardInterrupt:
            polling.acknowledge(offset)
            self.stdout.write("Stopped.")
