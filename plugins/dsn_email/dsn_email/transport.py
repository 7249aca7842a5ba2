"""Getting an email backend instance (a "connection", a "mailer" on Django 6.1+).

One small shim over the two Django APIs:

* Django 6.1+ has ``django.core.mail.mailers`` and the ``MAILERS`` setting;
  ``get_connection()`` is deprecated there.
* Django 5.2 has only ``get_connection()`` and the ``EMAIL_*`` settings.

A backend option ``connection`` names what to use, looked up in this order:

1. ``""`` (unset): the site's default (``mailers.default`` / ``get_connection()``).
2. An alias in ``DSN["EMAIL"]["CONNECTIONS"]`` (``{"BACKEND": path, "OPTIONS": {...}}``),
   on every Django version.
3. An alias in ``settings.MAILERS`` (native on 6.1; on 5.2 built from the same dict, so a
   site can write ``MAILERS`` once and keep it through the upgrade).
4. A dotted path to an email backend class, built with no options.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.module_loading import import_string

from . import config

#: Whether this Django has the ``MAILERS`` API (Django 6.1+).
HAS_MAILERS: bool = hasattr(mail, "mailers")
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


class UnknownConnection(LookupError):
    """The ``connection`` option names nothing DSN can build."""


def _mailers_setting() -> dict[str, Any]:
    value = getattr(settings, "MAILERS", None)
    return value if isinstance(value, dict) else {}


def known_aliases() -> list[str]:
    """Every alias a backend's ``connection`` option may name."""
    names = dict.fromkeys(config.connections())
    names.update(dict.fromkeys(_mailers_setting()))
    return list(names)


def _build(backend: str, options: dict[str, Any], alias: str | None) -> BaseEmailBackend:
    options = dict(options)
    if backend == SMTP_BACKEND and "timeout" not in options and config.timeout() is not None:
        options["timeout"] = config.timeout()
    if HAS_MAILERS:
        # Django 6.1+: a backend built with an alias takes its options from kwargs only
        # and rejects unknown ones, exactly as mail.mailers builds them.
        cls = import_string(backend)
        return cls(alias=alias, **options) if alias is not None else cls(**options)
    return mail.get_connection(backend, **options)


def get_mailer(name: str = "") -> BaseEmailBackend:
    """A new, unopened email backend for the ``connection`` option ``name``.

    Raises :class:`UnknownConnection` when ``name`` names nothing, ``ImportError`` when
    a backend path does not import, and whatever the backend's constructor raises.
    """
    name = (name or "").strip()
    own = config.connections()
    if name and name in own:
        entry = own[name] or {}
        return _build(entry.get("BACKEND", SMTP_BACKEND), entry.get("OPTIONS") or {}, alias=name)
    if HAS_MAILERS:
        if not name:
            return mail.mailers.default
        if name in mail.mailers:
            return mail.mailers[name]
    else:
        if not name:
            return mail.get_connection()
        mailers = _mailers_setting()
        if name in mailers:
            entry = mailers[name] or {}
            return _build(entry.get("BACKEND", SMTP_BACKEND), entry.get("OPTIONS") or {}, alias=None)
    if "." in name:
        return _build(name, {}, alias=None)
    known = ", ".join(known_aliases()) or "none defined"
    raise UnknownConnection(
        f"unknown email connection {name!r}: define it in DSN['EMAIL']['CONNECTIONS'] or MAILERS "
        f"(known: {known}), or give a dotted path to an email backend class"
    )


def connection_problem(name: str) -> str | None:
    """Why ``name`` cannot be used as a ``connection`` option, or ``None`` if it can.

    Never opens a network connection.
    """
    name = (name or "").strip()
    if not name:
        return None
    entry: Any = None
    if name in config.connections():
        entry = config.connections()[name]
    elif name in _mailers_setting():
        entry = _mailers_setting()[name]
    if entry is not None:
        if not isinstance(entry, dict):
            return f"connection {name!r} must be a dict with BACKEND and OPTIONS"
        path = entry.get("BACKEND", SMTP_BACKEND)
    elif "." in name:
        path = name
    else:
        known = ", ".join(known_aliases()) or "none defined"
        return f"unknown email connection {name!r} (known: {known})"
    try:
        cls = import_string(path)
    except ImportError as exc:
        return f"email backend {path!r} does not import: {exc}"
    if not (isinstance(cls, type) and issubclass(cls, BaseEmailBackend)):
        return f"{path!r} is not an email backend class"
    return None
