"""The published plugin API of DSN: everything a plugin may import, from this one module.

::

    from dsn_core.api import Message, Messenger, SendResult, TransientError, hookimpl

Every name in ``__all__`` is part of the API and follows the stability promise in
``docs/plugin-authors.md`` ("The API and what may change in 0.x"). Anything else under
``dsn_core`` is internal and may change in any release.

Importing this module never needs Django's app registry: names that live next to the models
(the address book, receipts, single-use tokens, ``Delivery``) are imported on first access
(:pep:`562` module ``__getattr__``), so a plugin can import them at module level and use them
once the site is running.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import __version__, hookimpl

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from . import addresses
    from .addresses import deactivate, find_user, get_address, get_addresses, remove_address, replace, set_address
    from .conf import dsn_settings, setting
    from .engines import Escape, TemplateEngine
    from .errors import (
        ConfigurationError,
        DeliveryError,
        DSNError,
        MessengerNotInstalled,
        PermanentError,
        TemplateError,
        TransientError,
    )
    from .http import (
        DEFAULT_TIMEOUT,
        error_for_exception,
        error_for_status,
        parse_retry_after,
        rebase_url,
        retry_after_from,
        route_requests,
    )
    from .messengers import Message, Messenger, Option, Outcome, RateLimit, SendResult, require_address
    from .models import Delivery
    from .plugins import get_engine
    from .receipts import Receipt, find_delivery, record_receipt
    from .receivers import Event, events_for
    from .redaction import redact, redact_error
    from .rendering import base_context
    from .tokens import BadToken, consume_token, make_token, read_token

#: name -> module that defines it. Resolved on first access and then cached in this module.
_LAZY: dict[str, str] = {
    # messengers
    "Messenger": "dsn_core.messengers",
    "Message": "dsn_core.messengers",
    "SendResult": "dsn_core.messengers",
    "Outcome": "dsn_core.messengers",
    "Option": "dsn_core.messengers",
    "RateLimit": "dsn_core.messengers",
    "require_address": "dsn_core.messengers",
    # template engines
    "TemplateEngine": "dsn_core.engines",
    "Escape": "dsn_core.engines",
    # errors
    "DSNError": "dsn_core.errors",
    "DeliveryError": "dsn_core.errors",
    "TransientError": "dsn_core.errors",
    "PermanentError": "dsn_core.errors",
    "ConfigurationError": "dsn_core.errors",
    "MessengerNotInstalled": "dsn_core.errors",
    "TemplateError": "dsn_core.errors",
    # settings and secrets
    "setting": "dsn_core.conf",
    "redact": "dsn_core.redaction",
    "redact_error": "dsn_core.redaction",
    # signed tokens (consume_token stores used tokens: needs the apps)
    "BadToken": "dsn_core.tokens",
    "make_token": "dsn_core.tokens",
    "read_token": "dsn_core.tokens",
    "consume_token": "dsn_core.tokens",
    # the address book (needs the apps)
    "get_address": "dsn_core.addresses",
    "get_addresses": "dsn_core.addresses",
    "set_address": "dsn_core.addresses",
    "remove_address": "dsn_core.addresses",
    "deactivate": "dsn_core.addresses",
    "replace": "dsn_core.addresses",
    "find_user": "dsn_core.addresses",
    # delivery receipts (need the apps)
    "Receipt": "dsn_core.receipts",
    "record_receipt": "dsn_core.receipts",
    "find_delivery": "dsn_core.receipts",
    "Delivery": "dsn_core.models",
    # SDK-based HTTP channels (dsn_core.http)
    "DEFAULT_TIMEOUT": "dsn_core.http",
    "error_for_exception": "dsn_core.http",
    "error_for_status": "dsn_core.http",
    "parse_retry_after": "dsn_core.http",
    "rebase_url": "dsn_core.http",
    "retry_after_from": "dsn_core.http",
    "route_requests": "dsn_core.http",
    # receiver resolvers
    "Event": "dsn_core.receivers",
    "events_for": "dsn_core.receivers",
    "base_context": "dsn_core.rendering",
    "get_engine": "dsn_core.plugins",
    "dsn_settings": "dsn_core.conf",
}

#: Whole modules offered as namespaces (``addresses.set_address(...)``).
_LAZY_MODULES: dict[str, str] = {"addresses": "dsn_core.addresses"}

__all__ = [  # noqa: RUF022  (plain sorted order; tests/core/test_api.py checks it)
    "BadToken",
    "ConfigurationError",
    "DEFAULT_TIMEOUT",
    "DSNError",
    "Delivery",
    "DeliveryError",
    "Escape",
    "Event",
    "Message",
    "Messenger",
    "MessengerNotInstalled",
    "Option",
    "Outcome",
    "PermanentError",
    "RateLimit",
    "Receipt",
    "SendResult",
    "TemplateEngine",
    "TemplateError",
    "TransientError",
    "__version__",
    "addresses",
    "base_context",
    "consume_token",
    "deactivate",
    "dsn_settings",
    "error_for_exception",
    "error_for_status",
    "events_for",
    "find_delivery",
    "find_user",
    "get_address",
    "get_addresses",
    "get_engine",
    "hookimpl",
    "make_token",
    "parse_retry_after",
    "read_token",
    "rebase_url",
    "record_receipt",
    "redact",
    "redact_error",
    "remove_address",
    "replace",
    "require_address",
    "retry_after_from",
    "route_requests",
    "set_address",
    "setting",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        value: Any = importlib.import_module(_LAZY_MODULES[name])
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'dsn_core.api' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
