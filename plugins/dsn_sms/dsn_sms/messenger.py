"""The ``sms`` messenger: one Twilio message per delivery."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured, ValidationError

from dsn_core.api import (
    ConfigurationError,
    DeliveryError,
    Message,
    Messenger,
    Option,
    PermanentError,
    RateLimit,
    SendResult,
    deactivate,
    get_addresses,
    require_address,
)

from . import config, phone, segments
from .errors import DEACTIVATE_CODES, error_code, translate

if TYPE_CHECKING:
    from .transport import Connection

logger = logging.getLogger("dsn_sms")

#: Twilio refuses bodies longer than this (error 21617).
MAX_BODY = 1600
#: Default cap on the segments (each billed as one SMS) of one message: 459 GSM-7 or 201 UCS-2 characters.
DEFAULT_MAX_SEGMENTS = 3


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with an ellipsis (``...`` in GSM-7, ``…`` in UCS-2) when cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    ellipsis = segments.ELLIPSIS[segments.GSM7 if segments.is_gsm7(text) else segments.UCS2]
    cut = text[: max(limit - len(ellipsis), 0)]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + ellipsis


def _attribute(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
        if callable(obj):
            obj = obj()
    return obj


class SmsMessenger(Messenger):
    """Sends text messages through Twilio's Programmable Messaging API.

    Settings live in ``DSN["SMS"]`` (see ``docs/channels/sms.md``). The recipient's number
    comes from the user attribute named by ``PHONE_ATTRIBUTE`` when set, else from DSN's
    address book (messenger ``sms``).
    """

    key = "sms"
    label = "SMS (Twilio)"
    options = (
        Option("from_number", "Sender for this backend (E.164 number or alphanumeric id); default FROM_NUMBER."),
        Option("messaging_service_sid", "Twilio Messaging Service SID (MG...) for this backend."),
        Option("include_subject", "Put the rendered subject on the first line.", default=False, type=bool),
        Option("max_length", f"Cut longer texts with an ellipsis (1-{MAX_BODY}).", default=MAX_BODY, type=int),
        Option(
            "max_segments",
            f"Cut texts that would take more SMS segments, each billed as one SMS "
            f"(1-{segments.MAX_SEGMENTS}; a segment is 153 GSM-7 or 67 UCS-2 characters).",
            default=DEFAULT_MAX_SEGMENTS,
            type=int,
        ),
    )
    max_batch_size: ClassVar[int] = 50

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.connection: Connection | None = None
        self.config: config.SmsConfig | None = None
        self.config_error: ConfigurationError | None = None

    # -- configuration -----------------------------------------------------------------

    @classmethod
    def clean_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Check the sender and the length limit on top of the generic checks."""
        cleaned = super().clean_options(options)
        errors: list[str] = []
        sender = str(cleaned.get("from_number") or "").strip()
        if sender:
            normalized = phone.normalize(sender) if sender.startswith(("+", "00")) else sender
            if not phone.is_sender(normalized):
                errors.append(
                    "Option 'from_number' must be an E.164 number like +14155550100 "
                    "or an alphanumeric sender id of at most 11 characters."
                )
            cleaned["from_number"] = normalized
        service = str(cleaned.get("messaging_service_sid") or "").strip()
        if service and not config.MESSAGING_SERVICE_SID.fullmatch(service):
            errors.append("Option 'messaging_service_sid' must be MG followed by 32 hex digits.")
        if sender and service:
            errors.append("Give either 'from_number' or 'messaging_service_sid', not both.")
        length = cleaned.get("max_length", MAX_BODY)
        if not 1 <= length <= MAX_BODY:
            errors.append(f"Option 'max_length' must be between 1 and {MAX_BODY}.")
        count = cleaned.get("max_segments", DEFAULT_MAX_SEGMENTS)
        if not 1 <= count <= segments.MAX_SEGMENTS:
            errors.append(f"Option 'max_segments' must be between 1 and {segments.MAX_SEGMENTS}.")
        if errors:
            raise ValidationError(errors)
        return cleaned

    @classmethod
    def check(cls) -> list[CheckMessage]:
        """Errors for missing or malformed ``DSN["SMS"]`` settings."""
        return config.check()

    def rate_limits_for(self, address: str) -> Sequence[RateLimit]:
        """One limit for the whole messenger: ``MESSAGES_PER_SECOND`` (default 1, a long code's rate)."""
        try:
            rate = config.load().messages_per_second
        except Exception:
            rate = config.DEFAULT_MESSAGES_PER_SECOND
        if rate >= 1:
            return (RateLimit(count=int(rate), per=1.0),)
        return (RateLimit(count=1, per=1.0 / rate),)

    # -- addresses -----------------------------------------------------------------------

    @classmethod
    def clean_address(cls, address: str) -> str:
        """A fixed address must be a phone number; it is stored in E.164 form."""
        return phone.to_e164(address)

    @property
    def user_fields(self) -> tuple[str, ...] | None:
        """``PHONE_ATTRIBUTE`` when it names a field of the user; ``()`` when unset (the address
        book); ``None`` (load whole users) for a dotted path, which follows a relation."""
        attribute = config.phone_attribute()
        if not attribute:
            return ()
        return None if "." in attribute else (attribute,)

    def address_for(self, user: Any) -> str | None:
        """The user's number: ``PHONE_ATTRIBUTE`` if set and valid, else the address book."""
        return self.addresses_for([user]).get(user.pk)

    def addresses_for(self, users: Iterable[Any]) -> dict[Any, str]:
        """Numbers for many users; users without a valid number are left out (and so skipped)."""
        users = list(users)
        found: dict[Any, str] = {}
        attribute = config.phone_attribute()
        if attribute:
            for user in users:
                value = _attribute(user, attribute)
                if value:
                    number = phone.normalize(str(value))
                    if phone.is_e164(number):
                        found[user.pk] = number
                    else:
                        logger.warning("DSN SMS: user %s has a %s that is not an E.164 number", user.pk, attribute)
        missing = [u.pk for u in users if u.pk not in found]
        if missing:
            found.update(get_addresses(missing, self.key))
        return found

    # -- sending -------------------------------------------------------------------------

    def open(self) -> None:
        """Create the Twilio client (one HTTP session for the batch).

        Wrong settings do not raise here: each ``send`` then fails with a
        ``ConfigurationError`` naming the setting, so every delivery records why.
        """
        if self.connection is not None:
            return
        try:
            self.config = config.load()
        except ImproperlyConfigured as exc:
            self.config_error = ConfigurationError(str(exc))
            return
        self.config_error = None
        from .transport import connect  # imported here: only workers (which send) need the twilio SDK

        self.connection = connect(self.config)

    def close(self) -> None:
        """Close the HTTP session."""
        if self.connection is not None:
            self.connection.close()
        self.connection = None

    def full_text(self, message: Message) -> str:
        """The SMS text before any cut: optional subject line, then the text."""
        text = message.text.strip()
        if self.option_values.get("include_subject") and message.subject.strip():
            text = f"{message.subject.strip()}\n{text}"
        return text

    def body(self, message: Message) -> str:
        """The SMS text as sent: :meth:`full_text` cut to ``max_length`` characters and ``max_segments``."""
        text = fit(self.full_text(message), int(self.option_values.get("max_length", MAX_BODY)))
        return segments.fit(text, int(self.option_values.get("max_segments", DEFAULT_MAX_SEGMENTS)))

    def preview_notes(self, message: Message) -> list[str]:
        """The segments the text costs (GSM-7 or UCS-2, and why), and whether this backend cuts it."""
        full = self.full_text(message)
        notes = [segments.count(full).describe()]
        sent = self.body(message)
        if sent != full:
            limits = self.option_values
            notes.append(
                f"Over this backend's limits (max_segments {limits.get('max_segments', DEFAULT_MAX_SEGMENTS)}, "
                f"max_length {limits.get('max_length', MAX_BODY)}): cut to {len(sent)} characters, "
                f"{segments.count(sent).count} segment(s)."
            )
        return notes

    def send(self, message: Message) -> SendResult:
        """Send one SMS; return its Twilio message SID, or raise a ``DeliveryError``."""
        address = require_address(message)
        number = phone.normalize(address)
        if not phone.is_e164(number):
            raise PermanentError(f"{address!r} is not a phone number in E.164 format")
        self.open()
        if self.config_error is not None:
            raise self.config_error
        assert self.connection is not None and self.config is not None
        params: dict[str, Any] = {"to": number, "body": self.body(message)}
        service = self.option_values.get("messaging_service_sid") or (
            "" if self.option_values.get("from_number") else self.config.messaging_service_sid
        )
        if service:
            params["messaging_service_sid"] = service
        else:
            params["from_"] = self.option_values.get("from_number") or self.config.from_number
        if self.config.status_callback_url:
            params["status_callback"] = self.config.status_callback_url
        try:
            created = self.connection.client.messages.create(**params)
        except Exception as exc:
            error = translate(exc, self.connection.last_headers, secrets=self.config.secrets)
            if error_code(exc) in DEACTIVATE_CODES:
                count = deactivate(self.key, number)
                logger.info("DSN SMS: %s opted out (STOP); %s address book entries deactivated", number, count)
            raise error from None
        return SendResult(provider_id=str(created.sid or ""))

    def send_batch(self, messages: Sequence[Message]) -> list[SendResult | DeliveryError]:
        """Send each message over one HTTP session."""
        if not messages:
            return []
        return super().send_batch(messages)
