"""The ``email`` messenger: one email per recipient, through Django's mail framework."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from email.utils import formataddr, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.utils.crypto import salted_hmac

from dsn_core.api import (
    DeliveryError,
    Message,
    Messenger,
    Option,
    Outcome,
    PermanentError,
    RateLimit,
    SendResult,
    TransientError,
    get_address,
    get_addresses,
    redact,
    require_address,
)

from . import config
from .errors import breaks_connection, classify
from .transport import connection_problem, get_mailer

if TYPE_CHECKING:
    from django.core.checks import CheckMessage
    from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("dsn_email")


class EmailWithMetadata(EmailMultiAlternatives):
    """An email carrying django-anymail's ``metadata`` (sent to the ESP; other backends ignore it)."""

    metadata: dict[str, str]


#: Statuses django-anymail reports for a recipient the ESP will not deliver to.
ESP_REFUSED = frozenset({"rejected", "invalid"})


def parse_email(value: str) -> tuple[str, str]:
    """``(display name, addr-spec)`` from ``"Name <a@b.c>"`` or ``"a@b.c"``; raise ``ValidationError``."""
    value = (value or "").strip()
    if "\n" in value or "\r" in value:
        raise ValidationError(f"{value!r} is not a valid email address.")
    name, addr = parseaddr(value)
    try:
        validate_email(addr)
    except ValidationError:
        raise ValidationError(f"{value!r} is not a valid email address.") from None
    return name, addr


def _one_line(text: str) -> str:
    return " ".join(text.split())


def message_id(message: Message, domain: str) -> str:
    """The ``Message-ID`` for ``message``: the same on every attempt of one delivery.

    Derived from the delivery's idempotency key and an HMAC of it under the site's
    ``SECRET_KEY`` (so ids never collide between sites). Mail servers and mailbox providers
    that deduplicate by Message-ID then show a retried email once; a resend is a new delivery
    and gets a new id. Messages without a delivery (a test send) get a random one.
    """
    if not message.delivery_id:
        return make_msgid(domain=domain)
    key = message.idempotency_key
    digest = salted_hmac("dsn_email.message_id", key, algorithm="sha256").hexdigest()[:20]
    return f"<{key}.{digest}@{domain}>"


class EmailMessenger(Messenger):
    """Sends each message as one email to one recipient over the site's email backend.

    A batch shares one connection (one SMTP session); each message is its own email, so
    a refused recipient fails only its own delivery.
    """

    key = "email"
    label = "Email"
    text_format = "plain"
    max_batch_size = 100
    wants_unsubscribe_url = True  # List-Unsubscribe headers on every message to a user
    options = (
        Option("from_email", "From address, e.g. 'Shop <noreply@example.com>' (default: DSN['EMAIL']['FROM'])"),
        Option("reply_to", "Reply-To address(es), comma-separated (default: DSN['EMAIL']['REPLY_TO'])"),
        Option(
            "connection",
            "connection to send through: an alias in DSN['EMAIL']['CONNECTIONS'] or MAILERS, or a dotted "
            "email backend path (default: the site's default)",
        ),
        Option("subject_prefix", "text put before every subject, e.g. '[Shop] '"),
    )

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._backend: BaseEmailBackend | None = None
        self._open_error: DeliveryError | None = None

    # -- configuration ---------------------------------------------------------------

    @classmethod
    def clean_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Check the addresses and that the connection exists (without connecting)."""
        cleaned = super().clean_options(options)
        errors: list[str] = []
        if cleaned.get("from_email"):
            try:
                parse_email(cleaned["from_email"])
            except ValidationError as exc:
                errors.append(f"from_email: {exc.messages[0]}")
        if cleaned.get("reply_to"):
            for item in config.split_addresses(cleaned["reply_to"]):
                try:
                    parse_email(item)
                except ValidationError as exc:
                    errors.append(f"reply_to: {exc.messages[0]}")
        if cleaned.get("connection"):
            problem = connection_problem(cleaned["connection"])
            if problem:
                errors.append(f"connection: {problem}")
        if cleaned.get("subject_prefix") and ("\n" in cleaned["subject_prefix"] or "\r" in cleaned["subject_prefix"]):
            errors.append("subject_prefix: must be one line.")
        if errors:
            raise ValidationError(errors)
        return cleaned

    @classmethod
    def check(cls) -> list[CheckMessage]:
        """Settings problems, and (with ``VERIFY_CONNECTIONS``) connections that fail to open."""
        from .checks import run_checks

        return run_checks()

    @property
    def from_email(self) -> str:
        """The From header of this backend's emails."""
        return self.option_values.get("from_email") or config.default_from()

    @property
    def reply_to(self) -> list[str]:
        """The Reply-To addresses of this backend's emails."""
        if self.option_values.get("reply_to"):
            return config.split_addresses(self.option_values["reply_to"])
        return config.default_reply_to()

    def rate_limits_for(self, address: str) -> Sequence[RateLimit]:
        """``DSN["EMAIL"]["RATE_LIMIT"]`` as a messenger-wide limit, if set."""
        limit = config.rate_limit()
        return (RateLimit(limit[0], limit[1]),) if limit else ()

    # -- addresses -------------------------------------------------------------------

    @property
    def user_fields(self) -> tuple[str, ...]:
        """``DSN["EMAIL"]["USER_ATTRIBUTE"]`` (``"email"``): the one user field read."""
        return (config.user_attribute(),)

    def address_for(self, user: Any) -> str | None:
        """The user's email attribute, else their address-book entry."""
        value = getattr(user, config.user_attribute(), None)
        if value:
            return str(value).strip()
        return get_address(user, self.key)

    def addresses_for(self, users: Iterable[Any]) -> dict[Any, str]:
        """Read the attribute (no query); one address-book query for users without one."""
        attribute = config.user_attribute()
        found: dict[Any, str] = {}
        missing: list[Any] = []
        for user in users:
            value = getattr(user, attribute, None)
            value = str(value).strip() if value else ""
            if value:
                found[user.pk] = value
            else:
                missing.append(user.pk)
        if missing:
            found.update(get_addresses(missing, self.key))
        return found

    @classmethod
    def clean_address(cls, address: str) -> str:
        """Validate a fixed address (``a@b.c`` or ``Name <a@b.c>``)."""
        name, addr = parse_email(address)
        return formataddr((name, addr)) if name else addr

    # -- building --------------------------------------------------------------------

    def build(self, message: Message) -> EmailMultiAlternatives:
        """The email for ``message``; raise :class:`PermanentError` if it cannot be built."""
        to = require_address(message)
        try:
            parse_email(to)
        except ValidationError:
            raise PermanentError(f"invalid email address {to!r}") from None
        from_email = self.from_email
        domain = parseaddr(from_email)[1].rpartition("@")[2] or "localhost"
        headers = {
            "Message-ID": message_id(message, domain),
            "Auto-Submitted": "auto-generated",
        }
        if message.unsubscribe_url:
            headers["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        subject = _one_line(f"{self.option_values.get('subject_prefix', '')}{message.subject}")
        email = EmailWithMetadata(
            subject=subject,
            body=message.text,
            from_email=from_email,
            to=[to],
            reply_to=self.reply_to,
            headers=headers,
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        # django-anymail sends these to the ESP as metadata; other backends ignore them.
        email.metadata = {"dsn_delivery": str(message.delivery_id or "")} | {
            f"dsn_{k}": str(v) for k, v in message.metadata.items()
        }
        return email

    # -- sending ---------------------------------------------------------------------

    def open(self) -> None:
        """Build and open the connection; a failure is kept and reported per message."""
        self._open_error = None
        try:
            backend = get_mailer(self.option_values.get("connection", ""))
            backend.open()
        except Exception as exc:
            self._backend = None
            self._open_error = classify(exc)
            logger.warning(
                "DSN email: cannot open connection %r: %s",
                self.option_values.get("connection", ""),
                redact(str(self._open_error)),
            )  # a server may echo the credentials
            return
        self._backend = backend

    def close(self) -> None:
        """Close the connection (errors while closing are logged, not raised)."""
        backend, self._backend = self._backend, None
        if backend is None:
            return
        try:
            backend.close()
        except Exception as exc:
            logger.warning("DSN email: error closing the connection: %s: %s", type(exc).__name__, redact(str(exc)))

    def send(self, message: Message) -> SendResult:
        """Send one email (opening a connection if none is open)."""
        outcome = self.send_batch([message])[0]
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    def send_batch(self, messages: Sequence[Message]) -> list[Outcome]:
        """Send each message as its own email, all over one connection."""
        if not messages:
            return []
        opened_here = self._backend is None and self._open_error is None
        if opened_here:
            self.open()
        try:
            return [self._send_one(message) for message in messages]
        finally:
            if opened_here:
                self.close()
                self._open_error = None

    def _send_one(self, message: Message) -> Outcome:
        try:
            email = self.build(message)
        except DeliveryError as exc:
            return exc
        except (ValueError, ValidationError) as exc:
            return PermanentError(f"cannot build the email: {exc}")
        backend = self._backend
        if backend is None:
            return self._open_error or TransientError("no email connection")
        try:
            sent = backend.send_messages([email])
        except Exception as exc:
            error = classify(exc, parseaddr(message.address)[1])
            if breaks_connection(exc):
                self._reconnect()
            return error
        if not sent:
            return TransientError("the email backend reported that it sent nothing")
        return self._result(email, parseaddr(message.address)[1])

    def _reconnect(self) -> None:
        self.close()
        self.open()

    @staticmethod
    def _result(email: EmailMultiAlternatives, addr: str) -> Outcome:
        status = getattr(email, "anymail_status", None)
        if status is not None:
            recipient = (status.recipients or {}).get(addr)
            state = getattr(recipient, "status", None)
            if state in ESP_REFUSED:
                return PermanentError(f"the email provider refused {addr}: {state}")
            if state == "failed":
                return TransientError(f"the email provider failed to send to {addr}")
            if status.message_id is not None and not isinstance(status.message_id, set):
                return SendResult(provider_id=str(status.message_id))
        return SendResult(provider_id=email.extra_headers["Message-ID"])
