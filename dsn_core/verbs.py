"""Registered signals ("verbs") that triggers can fire on.

Django's model signals and auth signals are registered by the core; plugins add more
through the ``register_signals`` hook, and apps can call :func:`register_signal` from
their ``AppConfig.ready()``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from django.dispatch import Signal

#: Keyword arguments tried, in order, for the action object and the actor.
DEFAULT_ACTION_OBJECT_ARGS = ("instance", "action_object")
DEFAULT_ACTOR_ARGS = ("actor_object", "actor")


@dataclass(frozen=True)
class Verb:
    """A signal registered under a name."""

    name: str
    signal: Signal
    action_object_arg: str | None = None
    actor_arg: str | None = None
    model_signal: bool = False
    description: str = ""
    #: Optional filter on the signal's kwargs; calls it rejects never match (m2m_changed
    #: uses it to react once per change, on the ``post_*`` actions).
    accepts: Any = None
    #: The signal's sender is always the action object's model (Django's save/delete
    #: signals): DSN then connects only for models that have triggers.
    sender_is_model: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.signal, Signal):
            raise TypeError(f"verb {self.name!r}: {self.signal!r} is not a django.dispatch.Signal")
        if not self.name or not self.name.replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"verb name {self.name!r} must be letters, digits, '_' or '.'")

    def action_object(self, sender: Any, kwargs: dict[str, Any]) -> Any:
        """The action object of one signal call."""
        if self.action_object_arg is not None:
            return kwargs.get(self.action_object_arg) if self.action_object_arg else None
        for arg in DEFAULT_ACTION_OBJECT_ARGS:
            if arg in kwargs:
                return kwargs[arg]
        return None

    def actor(self, kwargs: dict[str, Any]) -> Any:
        """The actor of one signal call."""
        if self.actor_arg is not None:
            return kwargs.get(self.actor_arg) if self.actor_arg else None
        for arg in DEFAULT_ACTOR_ARGS:
            if arg in kwargs:
                return kwargs[arg]
        return None


_app_verbs: dict[str, Verb] = {}
_lock = threading.Lock()


def register_signal(
    name: str,
    signal: Signal,
    *,
    action_object_arg: str | None = None,
    actor_arg: str | None = None,
    description: str = "",
) -> Verb:
    """Register ``signal`` as verb ``name`` from application code (call it in ``ready()``)."""
    verb = Verb(name, signal, action_object_arg, actor_arg, False, description)
    with _lock:
        existing = _app_verbs.get(name)
        if existing is not None and existing.signal is not signal:
            raise ValueError(f"verb {name!r} is already registered for another signal")
        _app_verbs[name] = verb
    registry_changed()
    return verb


def unregister_signal(name: str) -> None:
    """Remove a verb registered with :func:`register_signal` (tests)."""
    with _lock:
        _app_verbs.pop(name, None)
    registry_changed()


def all_verbs() -> dict[str, Verb]:
    """Every registered verb by name: plugins' (core included) then the apps'."""
    from .plugins import registry

    verbs = dict(registry().signals)
    for name, verb in _app_verbs.items():
        verbs.setdefault(name, verb)
    return verbs


def get_verb(name: str) -> Verb | None:
    """The verb registered as ``name``, or ``None``."""
    return all_verbs().get(name)


def verb_choices() -> list[tuple[str, str]]:
    """``(name, label)`` pairs for the admin's verb dropdown."""
    return [
        (name, f"{name} — {verb.description}" if verb.description else name)
        for name, verb in sorted(all_verbs().items())
    ]


def registry_changed() -> None:
    """Tell the trigger index that the set of verbs changed."""
    from . import index

    index.request_rebuild()
