"""dsn-twitter's hook implementations: the ``twitter`` messenger."""

from __future__ import annotations

from collections.abc import Callable

from dsn_core.api import hookimpl


@hookimpl
def register_messengers(register: Callable[[type], None]) -> None:
    """Provide the ``twitter`` messenger."""
    from .messenger import TwitterMessenger

    register(TwitterMessenger)
