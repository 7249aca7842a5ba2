"""DSN's own plugin: registered through the same hooks as every third-party plugin.

It provides the ``django`` template engine, the ``console`` and ``locmem`` messengers,
Django's model and auth signals as verbs, and the ``@superusers`` resolver.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth import signals as auth_signals
from django.db.models import signals as model_signals

from . import hookimpl
from .engines import DjangoTemplateEngine
from .messengers import Message, Messenger, Option, SendResult

logger = logging.getLogger("dsn_core.console")


class ConsoleMessenger(Messenger):
    """Prints each message to standard output (and logs it). For development and demos."""

    key = "console"
    label = "Console (print)"
    internal = True
    options = (Option("stream", "stdout or stderr", default="stdout", choices=("stdout", "stderr")),)

    @property
    def user_fields(self) -> tuple[str, ...]:
        """The user's username field, which ``get_username()`` reads."""
        return (get_user_model().USERNAME_FIELD,)

    def address_for(self, user: Any) -> str | None:
        return user.get_username()

    def addresses_for(self, users: Iterable[Any]) -> dict[Any, str]:
        return {u.pk: u.get_username() for u in users}

    def send(self, message: Message) -> SendResult:
        stream = sys.stderr if self.option_values.get("stream") == "stderr" else sys.stdout
        lines = [f"[DSN console] to {message.address}"]
        if message.subject:
            lines.append(f"Subject: {message.subject}")
        lines.append(message.text)
        stream.write("\n".join(lines) + "\n" + "-" * 60 + "\n")
        stream.flush()
        logger.info("DSN console message to %s: %s", message.address, message.subject)
        return SendResult(provider_id=f"console-{message.delivery_id}")


#: Messages sent through the ``locmem`` messenger, in order (tests read and clear it).
outbox: list[Message] = []


class LocmemMessenger(Messenger):
    """Keeps messages in :data:`dsn_core.builtins.outbox`. For tests."""

    key = "locmem"
    label = "Local memory (tests)"
    internal = True
    #: No I/O, nothing to wait for: calls run inline, without the deadline thread.
    send_timeout = 0
    options = (Option("fail", "make sends fail: 'transient' or 'permanent'", choices=("transient", "permanent")),)

    @property
    def user_fields(self) -> tuple[str, ...]:
        """The user's username field, which ``get_username()`` reads."""
        return (get_user_model().USERNAME_FIELD,)

    def address_for(self, user: Any) -> str | None:
        return user.get_username()

    def addresses_for(self, users: Iterable[Any]) -> dict[Any, str]:
        return {u.pk: u.get_username() for u in users}

    def send(self, message: Message) -> SendResult:
        from .errors import PermanentError, TransientError

        failure = self.option_values.get("fail")
        if failure == "transient":
            raise TransientError("locmem: asked to fail (transient)")
        if failure == "permanent":
            raise PermanentError("locmem: asked to fail (permanent)")
        outbox.append(message)
        return SendResult(provider_id=f"locmem-{len(outbox)}")


def _after_m2m_change(kwargs: dict[str, Any]) -> bool:
    return str(kwargs.get("action", "")).startswith("post_")


@hookimpl
def register_template_engines(register: Callable[[Any], None]) -> None:
    register(DjangoTemplateEngine)


@hookimpl
def register_messengers(register: Callable[[type], None]) -> None:
    register(ConsoleMessenger)
    register(LocmemMessenger)


@hookimpl
def register_signals(register: Callable[..., None]) -> None:
    for name in ("pre_save", "post_save", "pre_delete", "post_delete"):
        register(
            name,
            getattr(model_signals, name),
            action_object_arg="instance",
            model_signal=True,
            sender_is_model=True,
            description=f"Django model signal {name}",
        )
    register(
        "m2m_changed",
        model_signals.m2m_changed,
        action_object_arg="instance",
        model_signal=True,
        description="a many-to-many relation changed (post_add, post_remove, post_clear)",
        accepts=_after_m2m_change,
    )
    register(
        "user_logged_in",
        auth_signals.user_logged_in,
        action_object_arg="user",
        actor_arg="user",
        description="a user logged in",
    )
    register(
        "user_logged_out",
        auth_signals.user_logged_out,
        action_object_arg="user",
        actor_arg="user",
        description="a user logged out",
    )
    register(
        "user_login_failed",
        auth_signals.user_login_failed,
        action_object_arg="",
        actor_arg="",
        description="a login attempt failed",
    )


@hookimpl
def register_receiver_resolvers(register: Callable[..., None]) -> None:
    def superusers(event: Any) -> Iterable[Any]:
        return get_user_model()._default_manager.filter(is_superuser=True, is_active=True)

    register("superusers", superusers, description="every active superuser")
