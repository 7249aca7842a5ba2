"""The ``DSN["SMS"]`` settings, read in one place.

Secrets (the auth token) are read from settings or the environment only, and never
appear in a message, a log line or ``repr``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured

from dsn_core.api import setting

from .phone import is_e164, is_sender

SECTION = "SMS"
DEFAULT_API_BASE_URL = "https://api.twilio.com"
DEFAULT_TIMEOUT = 10.0
#: Twilio's default throughput for one long-code (10DLC / local) number.
DEFAULT_MESSAGES_PER_SECOND = 1.0
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class SmsConfig:
    """Validated SMS settings."""

    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base_url: str = ""
    timeout: float = DEFAULT_TIMEOUT
    status_callback_url: str = ""
    phone_attribute: str = ""
    messages_per_second: float = DEFAULT_MESSAGES_PER_SECOND
    webhook_signing_key: str = field(default="", repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never appear in an error text: the auth token, and the HTTP Basic credential
        built from it (``base64(sid:token)``, which an echoing proxy or provider may quote)."""
        basic = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return (self.auth_token, basic)


def _optional(name: str, default: Any = "") -> Any:
    return setting(SECTION, name, env=f"DSN_SMS_{name}", default=default)


def load() -> SmsConfig:
    """Read and check the settings; raise ``ImproperlyConfigured`` naming the key that is wrong."""
    account_sid = str(setting(SECTION, "ACCOUNT_SID", env="DSN_SMS_ACCOUNT_SID"))
    auth_token = str(setting(SECTION, "AUTH_TOKEN", env="DSN_SMS_AUTH_TOKEN"))
    from_number = str(_optional("FROM_NUMBER")).strip()
    service = str(_optional("MESSAGING_SERVICE_SID")).strip()
    if not from_number and not service:
        raise ImproperlyConfigured(
            'DSN: set settings.DSN["SMS"]["FROM_NUMBER"] (or env DSN_SMS_FROM_NUMBER) or '
            'settings.DSN["SMS"]["MESSAGING_SERVICE_SID"] (or env DSN_SMS_MESSAGING_SERVICE_SID).'
        )
    if from_number and not is_sender(from_number):
        raise ImproperlyConfigured(
            'DSN: settings.DSN["SMS"]["FROM_NUMBER"] must be an E.164 number like +14155550100 '
            "or an alphanumeric sender id of at most 11 characters."
        )
    if service and not MESSAGING_SERVICE_SID.fullmatch(service):
        raise ImproperlyConfigured(
            'DSN: settings.DSN["SMS"]["MESSAGING_SERVICE_SID"] must look like MG followed by 32 hex digits.'
        )
    timeout = _number("TIMEOUT", DEFAULT_TIMEOUT)
    rate = _number("MESSAGES_PER_SECOND", DEFAULT_MESSAGES_PER_SECOND)
    base = str(_optional("API_BASE_URL")).rstrip("/")
    if base and not base.startswith(("http://", "https://")):
        raise ImproperlyConfigured('DSN: settings.DSN["SMS"]["API_BASE_URL"] must start with http:// or https://.')
    callback = str(_optional("STATUS_CALLBACK_URL"))
    if callback and not callback.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            'DSN: settings.DSN["SMS"]["STATUS_CALLBACK_URL"] must be an absolute URL (https://...).'
        )
    return SmsConfig(
        account_sid=account_sid,
        auth_token=auth_token,
        from_number=from_number,
        messaging_service_sid=service,
        api_base_url=base,
        timeout=timeout,
        status_callback_url=callback,
        phone_attribute=str(_optional("PHONE_ATTRIBUTE")).strip(),
        messages_per_second=rate,
        webhook_signing_key=str(_optional("WEBHOOK_SIGNING_KEY")),
    )


def phone_attribute() -> str:
    """The user attribute (dotted path) holding phone numbers, or ``""`` to use the address book."""
    return str(_optional("PHONE_ATTRIBUTE")).strip()


def _number(name: str, default: float) -> float:
    raw = _optional(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if value <= 0:
        raise ImproperlyConfigured(f'DSN: settings.DSN["SMS"]["{name}"] must be a positive number of seconds/messages.')
    return value


def check() -> list[CheckMessage]:
    """System-check messages for the SMS settings (never including a secret's value)."""
    try:
        config = load()
    except ImproperlyConfigured as exc:
        return [Error(f"DSN SMS (dsn-sms): {exc}", id="dsn_sms.E001")]
    messages: list[CheckMessage] = []
    if not ACCOUNT_SID.fullmatch(config.account_sid):
        messages.append(
            Warning(
                'DSN SMS: settings.DSN["SMS"]["ACCOUNT_SID"] does not look like a Twilio account SID '
                "(AC followed by 32 hex digits).",
                id="dsn_sms.W001",
            )
        )
    if config.from_number and not is_e164(config.from_number):
        messages.append(
            Warning(
                "DSN SMS: FROM_NUMBER is an alphanumeric sender id; recipients cannot reply and some "
                "countries (the US and Canada among them) refuse it.",
                id="dsn_sms.W002",
            )
        )
    return messages
