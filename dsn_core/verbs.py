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


#: Words for the core's verbs, as an admin reads them in the "when" dropdown.
VERB_WORDS = {
    "post_save": "An object is saved (created or changed)",
    "pre_save": "An object is about to be saved",
    "post_delete": "An object is deleted",
    "pre_delete": "An object is about to be deleted",
    "m2m_changed": "A many-to-many relation changes (items added, removed or cleared)",
    "user_logged_in": "A user logs in",
    "user_logged_out": "A user logs out",
    "user_login_failed": "A login attempt fails",
}


def verb_label(name: str, verb: Verb | None = None) -> str:
    """What the verb means in words, with its name for those who know it:
    "An object is saved (created or changed) (post_save)"; a plugin's or an app's verb
    reads "<name> — <its description>"."""
    if name in VERB_WORDS:
        return f"{VERB_WORDS[name]} ({name})"
    verb = verb if verb is not None else get_verb(name)
    description = verb.description if verb is not None else ""
    return f"{name} — {description}" if description and description != name else name


def verb_choices() -> list[tuple[str, str]]:
    """``(name, label)`` pairs for the admin's verb dropdown: the core's in words first, then the rest."""
    verbs = all_verbs()
    order = list(VERB_WORDS)
    known = [(name, verb_label(name, verbs[name])) for name in order if name in verbs]
    rest = [(name, verb_label(name, verb)) for name, verb in sorted(verbs.items()) if name not in VERB_WORDS]
    return known + rest


def registry_changed() -> None:
    """Tell the trigger index that the set of verbs changed."""
    from . import index

    index.request_rebuild()
