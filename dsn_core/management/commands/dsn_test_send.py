"""``manage.py dsn_test_send``: send one text through a messenger to an address, now."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsn_core.forms import describe_outcome, redact, send_by_hand
from dsn_core.messengers import Message
from dsn_core.plugins import get_messenger_class, messenger_choices

from ._args import parse_pairs


class Command(BaseCommand):
    # Broken plugin settings must not stop these commands: they report problems themselves.
    requires_system_checks: list[str] = []
    help = 'Send a text through a messenger: dsn_test_send console alice "hello" [--subject S] [--option key=value]'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("messenger", help="The messenger key (see dsn_plugins).")
        parser.add_argument("address", help="The address on that channel (chat id, phone number, e-mail ...).")
        parser.add_argument("text", help="The message text.")
        parser.add_argument("--subject", default="DSN test", help="The subject (channels that have one).")
        parser.add_argument("--html", default="", help="An HTML body (channels that take one).")
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="A backend option of the messenger; VALUE is read as JSON when it parses.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        key = options["messenger"]
        cls = get_messenger_class(key)
        if cls is None:
            known = ", ".join(k for k, _label in messenger_choices()) or "none"
            raise CommandError(f"No messenger {key!r} is installed; installed: {known}.")
        try:
            messenger = cls(parse_pairs(options["option"], "--option"))
        except ValidationError as exc:
            raise CommandError(f"--option: {' '.join(exc.messages)}") from None
        except ImproperlyConfigured as exc:
            raise CommandError(redact(str(exc))) from None
        try:
            address = cls.clean_address(options["address"])
        except ValidationError as exc:
            raise CommandError(f"Bad address for {key}: {' '.join(exc.messages)}") from None
        message = Message(
            address=address,
            subject=options["subject"],
            text=options["text"],
            html=options["html"],
            metadata={"test": True},
        )
        sent, text = describe_outcome(send_by_hand(messenger, message))
        if not sent:
            raise CommandError(f"{cls.label} to {address}: {text}")
        self.stdout.write(self.style.SUCCESS(f"{cls.label} to {address}: {text}"))
