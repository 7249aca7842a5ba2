"""The plugin object that registers the test messenger (variant chosen by environment).

``DSN_HTTP_BATCH`` sets ``max_batch_size``; ``DSN_HTTP_RATE="10/1"`` sets a messenger-wide
rate limit; ``DSN_HTTP_DEDUP=1`` declares that the provider deduplicates (whole batches per
call). Worker processes read them at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from dsn_core import hookimpl

from .messenger import make_messenger


def messenger_from_env() -> type:
    """The messenger class this process's environment asks for."""
    rate = None
    if os.environ.get("DSN_HTTP_RATE"):
        count, per = os.environ["DSN_HTTP_RATE"].split("/")
        rate = (int(count), float(per))
    return make_messenger(
        batch=int(os.environ.get("DSN_HTTP_BATCH", "100")), rate=rate, dedup=os.environ.get("DSN_HTTP_DEDUP") == "1"
    )


class HttpPlugin:
    """Registers one messenger class."""

    def __init__(self, messenger: type) -> None:
        self.messenger = messenger

    @hookimpl
    def register_messengers(self, register: Callable[[type], None]) -> None:
        register(self.messenger)
