"""Keeping secrets out of what DSN stores and shows (delivery errors, admin messages, logs).

A secret is the value of a setting whose name says so (``TOKEN``, ``SECRET``, ``PASSWORD``,
``KEY``, ``AUTH``) in a plugin section of ``settings.DSN``, a ``DSN_*`` environment variable
with such a name, Django's ``EMAIL_HOST_PASSWORD``, or a password in Django 6.1's ``MAILERS``.

Logs: :func:`install_log_redaction` (run when the app is ready) makes every log record of the
process — DSN's and every library's (python-telegram-bot, httpx, urllib3, twilio, tweepy,
oauthlib...), at any level, whenever its logger was created — carry ``***`` where a secret
(or its URL-encoded form) was, in its message, its arguments and its traceback.

Templates: :func:`is_secret_name` decides which fields, attributes and keys they never see.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import time
import warnings
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from django.conf import settings
from django.core import mail
from django.core.signals import setting_changed

from .errors import DeliveryError

SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY", "AUTH", "SID")
MASK = "***"

#: Words that make a model field, attribute or dict key secret: message templates never see it
#: and snapshots never store it. Words of 5 letters or more match anywhere in the name
#: (``password_changed``, ``client_secret``); shorter ones match the end of a part of the name,
#: plural included (``api_key``, ``apikey``, ``keys``, ``pw_hash``, ``totp``; not ``keyword``
#: or ``hashtag``). ``DSN["SECRET_FIELD_WORDS"]`` adds words to these.
SECRET_FIELD_WORDS = ("password", "passwd", "token", "secret", "credential", "key", "hash", "otp", "salt", "pin")


def _secret_name(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def secret_values() -> set[str]:
    """The configured secret values (at least 6 characters, so masking stays meaningful)."""
    return _collect()[0]


def _collect() -> tuple[set[str], set[str]]:
    """(the secret values, the basic-auth headers they make with their neighbours' values).

    HTTP basic auth sends ``base64("<user or sid>:<secret>")``: a provider that echoes its
    Authorization header would otherwise put the secret, encoded, into an error or a log.
    """
    found: set[str] = set()
    pairs: set[str] = set()

    def pair(values: dict[str, str]) -> None:
        for name, secret in values.items():
            if len(secret) >= 6 and _secret_name(name):
                for other in values.values():
                    if other is not secret:
                        pairs.add(base64.b64encode(f"{other}:{secret}".encode()).decode())

    def walk(name: str, value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= 6 and _secret_name(name):
                found.add(value)
        elif isinstance(value, dict):
            pair({str(k): v for k, v in value.items() if isinstance(v, str) and v})
            for key, item in value.items():
                walk(str(key), item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(name, item)

    for key, section in (getattr(settings, "DSN", None) or {}).items():
        if isinstance(key, str) and key.isupper() and isinstance(section, dict):
            walk(key, section)
    by_section: dict[str, dict[str, str]] = {}
    for key, value in os.environ.items():
        if key.startswith("DSN_") and value:
            by_section.setdefault(key[4:].split("_", 1)[0], {})[key] = value
            if _secret_name(key[4:]) and len(value) >= 6:
                found.add(value)
    for values in by_section.values():
        pair(values)
    mailers = getattr(settings, "MAILERS", None)  # Django 6.1+: each mailer's OPTIONS
    if isinstance(mailers, dict):
        walk("MAILERS", mailers)
    password = _email_host_password()
    if isinstance(password, str) and len(password) >= 6:
        found.add(password)
        user = getattr(settings, "EMAIL_HOST_USER", "")
        if isinstance(user, str) and user:
            pairs.add(base64.b64encode(f"{user}:{password}".encode()).decode())
    return found, pairs


def redaction_values(extra: Iterable[str] = ()) -> set[str]:
    """Everything :func:`redact` masks: the secrets, URL-encoded too, and their basic-auth headers."""
    found, pairs = _collect()
    return _with_encoded(found | {v for v in extra if v}) | pairs


def _email_host_password() -> Any:
    """``EMAIL_HOST_PASSWORD``, read without Django 6.1's deprecation warning for it.

    On 6.1+ the setting is deprecated (``MAILERS`` replaces it): read it only when the site set
    it, and do not warn again (Django already warned when the settings loaded).
    """
    if not hasattr(mail, "mailers"):
        return getattr(settings, "EMAIL_HOST_PASSWORD", "")
    if getattr(settings, "MAILERS", None) is not None or not settings.is_overridden("EMAIL_HOST_PASSWORD"):
        return ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(settings, "EMAIL_HOST_PASSWORD", "")


def _with_encoded(values: set[str]) -> set[str]:
    """The values and their URL-encoded forms (a token with ``:`` or ``/`` in a logged URL)."""
    return values | {quote(v, safe="") for v in values} | {quote_plus(v, safe="") for v in values}


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every configured secret (and every value in ``extra``) replaced by ``***``."""
    return _mask(text, sorted(redaction_values(extra), key=len, reverse=True))


def _mask(text: str, values: Iterable[str]) -> str:
    for value in values:  # longest first, so a secret containing another is masked whole
        if value in text:
            text = text.replace(value, MASK)
    return text


#: (monotonic expiry, values longest first) for log records: reading os.environ costs ~1 µs per
#: variable, too much for every record; settings changes clear it at once, environment changes
#: apply within a second.
_log_cache: tuple[float, list[str]] | None = None
_LOG_CACHE_SECONDS = 1.0


def _log_values() -> list[str]:
    global _log_cache
    cached = _log_cache
    now = time.monotonic()
    if cached is None or cached[0] < now:
        cached = _log_cache = (now + _LOG_CACHE_SECONDS, sorted(redaction_values(), key=len, reverse=True))
    return cached[1]


def _forget_log_values(setting: str, **kwargs: Any) -> None:
    global _log_cache
    _log_cache = None


setting_changed.connect(_forget_log_values, dispatch_uid="dsn_core.redaction.logs")


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask secrets in a log record's message, arguments, traceback and stack, in place.

    The message is formatted once (``msg % args``) when it holds a secret, so handlers see
    the masked text with no arguments; a traceback holding a secret is kept as masked text
    (``exc_text``) and the live exception is dropped, so no handler can format it again.
    """
    try:
        values = _log_values()
        if not values:
            return record
        message = record.getMessage()
        if any(v in message for v in values):
            record.msg, record.args = _mask(message, values), None
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            if any(v in text for v in values):
                record.exc_text, record.exc_info = _mask(text, values), None
        elif record.exc_text and any(v in record.exc_text for v in values):
            record.exc_text = _mask(record.exc_text, values)
        if record.stack_info and any(v in record.stack_info for v in values):
            record.stack_info = _mask(record.stack_info, values)
    except Exception:  # never let logging fail because of us (settings not ready, odd args)
        pass
    return record


_installed: list[Any] = []


def install_log_redaction() -> None:
    """Wrap logging's record factory so that every record is redacted as it is made. Idempotent.

    A factory (not a filter on some loggers) covers loggers created later — python-telegram-bot
    makes its ``telegram.Bot`` logger when a bot is built — and records of every level.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "_dsn_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(current(*args, **kwargs))

    factory._dsn_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    _installed.append(factory)


def redact_error(error: DeliveryError, extra: Iterable[str] = ()) -> DeliveryError:
    """The same delivery error with secrets masked in its text (the error itself if none)."""
    text = redact(error.message, extra)
    if text == error.message:
        return error
    return type(error)(text, retry_after=error.retry_after)


_name_rule: re.Pattern[str] | None = None
_name_cache: dict[str, bool] = {}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def secret_field_words() -> tuple[str, ...]:
    """:data:`SECRET_FIELD_WORDS` plus the site's ``DSN["SECRET_FIELD_WORDS"]``."""
    from .conf import get

    extra = get("SECRET_FIELD_WORDS") or ()
    if isinstance(extra, str):
        extra = (extra,)
    return SECRET_FIELD_WORDS + tuple(str(word).lower() for word in extra if word)


def _compile(words: tuple[str, ...]) -> re.Pattern[str]:
    long = [re.escape(w) for w in words if len(w) >= 5]
    short = [re.escape(w) for w in words if len(w) < 5]
    parts = []
    if long:
        parts.append("|".join(long))
    if short:
        parts.append(rf"(?:{'|'.join(short)})s?(?:_|$)")
    return re.compile("|".join(parts) or r"(?!)")


def is_secret_name(name: str) -> bool:
    """Whether ``name`` (a field, attribute or key) names a secret (see :data:`SECRET_FIELD_WORDS`).

    Decisions are cached per name (a dict lookup in the rendering loop) until the ``DSN``
    setting changes.
    """
    global _name_rule
    found = _name_cache.get(name)
    if found is None:
        rule = _name_rule
        if rule is None:
            rule = _name_rule = _compile(secret_field_words())
        found = _name_cache[name] = rule.search(_CAMEL.sub("_", name).lower()) is not None
    return found


def _forget_names(setting: str, **kwargs: Any) -> None:
    global _name_rule
    if setting == "DSN":
        _name_rule = None
        _name_cache.clear()


setting_changed.connect(_forget_names, dispatch_uid="dsn_core.redaction")
