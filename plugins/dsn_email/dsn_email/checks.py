"""System checks of the email messenger (reported by ``manage.py check`` through the core).

IDs: ``dsn_email.E001`` bad From/Reply-To setting, ``E002`` user attribute missing,
``E003`` a connection that cannot be built, ``E004`` authentication (or other
configuration) failure when opening a connection, ``W001`` SMTP without a timeout,
``W002`` a connection that could not be reached.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ValidationError

from dsn_core.api import ConfigurationError

from . import config
from .errors import classify
from .transport import HAS_MAILERS, SMTP_BACKEND, connection_problem, get_mailer, known_aliases


def _addresses() -> list[CheckMessage]:
    from .messenger import parse_email

    messages: list[CheckMessage] = []
    for name, values in (("FROM", [config.default_from()]), ("REPLY_TO", config.default_reply_to())):
        for value in values:
            try:
                parse_email(value)
            except ValidationError as exc:
                messages.append(
                    Error(
                        f"DSN email: the default {name} address is invalid: {exc.messages[0]}",
                        hint=f"Set DSN['EMAIL']['{name}']" + (" or DEFAULT_FROM_EMAIL." if name == "FROM" else "."),
                        id="dsn_email.E001",
                    )
                )
    return messages


def _user_attribute() -> list[CheckMessage]:
    attribute = config.user_attribute()
    model = get_user_model()
    if hasattr(model, attribute):
        return []
    return [
        Error(
            f"DSN email: the user model {model._meta.label} has no attribute {attribute!r}.",
            hint="Set DSN['EMAIL']['USER_ATTRIBUTE'] to the field holding the user's email address.",
            id="dsn_email.E002",
        )
    ]


def _connections() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name in config.connections():
        problem = connection_problem(name)
        if problem:
            messages.append(Error(f"DSN email: DSN['EMAIL']['CONNECTIONS'][{name!r}]: {problem}", id="dsn_email.E003"))
    if not HAS_MAILERS and settings.EMAIL_BACKEND == SMTP_BACKEND and settings.EMAIL_TIMEOUT is None:
        messages.append(
            Warning(
                "DSN email: the default SMTP connection has no timeout; a hung mail server blocks a worker.",
                hint="Set EMAIL_TIMEOUT (seconds), or send through a DSN['EMAIL']['CONNECTIONS'] entry.",
                id="dsn_email.W001",
            )
        )
    return messages


def _verify() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name in ["", *known_aliases()]:
        label = repr(name) if name else "the default connection"
        if name and connection_problem(name):
            continue  # already reported
        try:
            backend = get_mailer(name)
            backend.open()
            backend.close()
        except Exception as exc:
            error = classify(exc)
            if isinstance(error, ConfigurationError):
                messages.append(
                    Error(
                        f"DSN email: {label}: {error}",
                        hint="Check the user name and password of this connection.",
                        id="dsn_email.E004",
                    )
                )
            else:
                messages.append(Warning(f"DSN email: {label} could not be opened: {error}", id="dsn_email.W002"))
    return messages


def run_checks() -> list[CheckMessage]:
    """Every check of the email messenger."""
    messages = _addresses() + _user_attribute() + _connections()
    if config.verify_connections():
        messages += _verify()
    return messages
