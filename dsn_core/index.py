"""The in-memory trigger index, the signal receivers, and reloading after admin edits.

The hot path: one receiver per verb, connected only while an enabled trigger (with an
enabled subscription) uses that verb. It looks the event up by ``(verb, model)`` in a
dict; an event that matches nothing makes no query.

Every process keeps its own index. Edits made in this process rebuild it at once; edits
made elsewhere bump :class:`~dsn_core.models.ConfigState`, which a daemon thread polls
every ``DSN["RELOAD_INTERVAL"]`` seconds (0.5 by default).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from .conditions import Condition, change_fields, compile_conditions

logger = logging.getLogger("dsn_core.index")


@dataclass(frozen=True)
class CompiledTrigger:
    """A trigger as the hot path sees it."""

    id: int
    name: str
    verb: str
    model: type[models.Model] | None
    object_id: str
    actor_model: type[models.Model] | None
    actor_id: str
    target: str
    conditions: tuple[Condition, ...]
    needs_previous: frozenset[str]

    def matches(self, obj: Any, actor: Any, kwargs: dict[str, Any]) -> bool:
        if self.object_id and (obj is None or str(obj.pk) != self.object_id):
            return False
        if self.actor_model is not None:
            if not isinstance(actor, self.actor_model):
                return False
            if self.actor_id and str(actor.pk) != self.actor_id:
                return False
        if self.target and str(kwargs.get("target", "")) != self.target:
            return False
        if self.conditions:
            previous = None
            if self.needs_previous:
                # pre_save reads the row now; post_save uses what pre_save captured.
                load = _load_previous if self.verb == "pre_save" else previous_values
                previous = load(obj, self.needs_previous)
            for condition in self.conditions:
                if not condition.holds(obj, kwargs, previous):
                    return False
        return True


@dataclass
class VerbEntry:
    verb: Any  # dsn_core.verbs.Verb
    by_model: dict[type, list[CompiledTrigger]] = field(default_factory=dict)
    any_model: list[CompiledTrigger] = field(default_factory=list)


@dataclass
class Index:
    version: int = -1
    by_verb: dict[str, VerbEntry] = field(default_factory=dict)
    previous_fields: dict[type, frozenset[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


_index = Index()
_built = False
_lock = threading.RLock()
_receivers: dict[tuple[str, Any], tuple[Any, Callable[..., None]]] = {}
#: One receiver function per verb (connected once per sender model for model signals).
_verb_receivers: dict[str, Callable[..., None]] = {}
_previous_senders: set[type] = set()
_bootstrap: list[tuple[Any, Callable[..., None]]] = []
_PREVIOUS_ATTR = "_dsn_previous"
#: Apps whose models a trigger without a model never matches (DSN's own rows, task queues).
IGNORED_APPS = frozenset({"dsn_core", "django_tasks_db", "django_tasks", "sessions", "admin", "contenttypes"})


def current() -> Index:
    """The index this process uses now."""
    return _index


# -- previous values (for "changed" conditions) -------------------------------------------


def previous_values(instance: Any, attnames: frozenset[str]) -> dict[str, Any] | None:
    """The row's values before this save, captured in ``pre_save`` (``None`` if new)."""
    if instance is None:
        return None
    cached = instance.__dict__.get(_PREVIOUS_ATTR, False)
    if cached is not False:
        return cached
    return _load_previous(instance, attnames)


def _load_previous(instance: Any, attnames: frozenset[str]) -> dict[str, Any] | None:
    if instance._state.adding or instance.pk is None:
        values = None
    else:
        manager = type(instance)._base_manager.using(instance._state.db or "default")
        values = manager.filter(pk=instance.pk).values(*attnames).first()
    instance.__dict__[_PREVIOUS_ATTR] = values
    return values


def _capture_previous(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    attnames = _index.previous_fields.get(sender)
    if attnames and not raw:
        try:
            _load_previous(instance, attnames)
        except Exception:
            _count_error()
            logger.exception("DSN could not read previous values of %s", sender.__name__)


# -- the receivers ------------------------------------------------------------------------


def _make_receiver(verb_name: str) -> Callable[..., None]:
    def receiver(sender: Any, **kwargs: Any) -> None:
        dispatch(verb_name, sender, kwargs)

    receiver.__name__ = f"dsn_{verb_name}_receiver"
    return receiver


def dispatch(verb_name: str, sender: Any, kwargs: dict[str, Any]) -> None:
    """Handle one signal call: match it and write notifications. Never raises."""
    entry = _index.by_verb.get(verb_name)
    if entry is None or kwargs.get("raw"):
        return
    try:
        verb = entry.verb
        if verb.accepts is not None and not verb.accepts(kwargs):
            return
        obj = verb.action_object(sender, kwargs)
        instance = obj if isinstance(obj, models.Model) else None
        key = type(instance) if instance is not None else sender
        candidates = entry.by_model.get(key) if isinstance(key, type) else None
        any_model = entry.any_model
        if any_model and isinstance(key, type) and _app_label(key) in IGNORED_APPS:
            any_model = []
        if not candidates and not any_model:
            return
        actor = verb.actor(kwargs)
        matched = [t for group in (candidates or (), any_model) for t in group if t.matches(instance, actor, kwargs)]
        if matched:
            from .outbox import record

            record(verb_name, sender, obj, actor, kwargs, matched)
    except Exception:
        _count_error()
        logger.exception("DSN failed handling %s from %r; the sender was not affected", verb_name, sender)


def _app_label(cls: type) -> str:
    meta = getattr(cls, "_meta", None)
    return getattr(meta, "app_label", "")


stats = {"errors": 0, "rebuilds": 0}


def _count_error() -> None:
    stats["errors"] += 1


# -- building -----------------------------------------------------------------------------


def _load_triggers() -> tuple[int, list[Any]]:
    from .models import ConfigState, Trigger

    version = ConfigState.current()
    triggers = list(
        Trigger.objects.filter(enabled=True, subscriptions__enabled=True, subscriptions__backends__isnull=False)
        .distinct()
        .select_related("action_object_type", "actor_type")
    )
    return version, triggers


def build(version: int, triggers: list[Any]) -> Index:
    """Compile trigger rows into an :class:`Index` (no database access)."""
    from .verbs import all_verbs

    verbs = all_verbs()
    new = Index(version=version)
    previous: dict[type, set[str]] = {}
    for trig in triggers:
        verb = verbs.get(trig.verb)
        if verb is None:
            new.problems.append(f"trigger {trig.pk} ({trig.name}): verb {trig.verb!r} is not registered")
            continue
        model = trig.action_object_type.model_class() if trig.action_object_type else None
        actor_model = trig.actor_type.model_class() if trig.actor_type else None
        if (trig.action_object_type and model is None) or (trig.actor_type and actor_model is None):
            new.problems.append(f"trigger {trig.pk} ({trig.name}): its model is no longer installed")
            continue
        try:
            conditions = compile_conditions(trig.conditions, model, trig.verb)
        except Exception as exc:
            new.problems.append(f"trigger {trig.pk} ({trig.name}): bad conditions: {exc}")
            continue
        compiled = CompiledTrigger(
            id=trig.pk,
            name=trig.name,
            verb=trig.verb,
            model=model,
            object_id=trig.action_object_id,
            actor_model=actor_model,
            actor_id=trig.actor_id,
            target=trig.target,
            conditions=conditions,
            needs_previous=change_fields(conditions),
        )
        entry = new.by_verb.setdefault(trig.verb, VerbEntry(verb))
        if model is None:
            entry.any_model.append(compiled)
        else:
            entry.by_model.setdefault(model, []).append(compiled)
            if compiled.needs_previous:
                previous.setdefault(model, set()).update(compiled.needs_previous)
    new.previous_fields = {m: frozenset(f) for m, f in previous.items()}
    for problem in new.problems:
        logger.warning("DSN: %s", problem)
    return new


def rebuild() -> Index:
    """Reload triggers from the database and swap the index in; reconnect receivers."""
    global _index, _built
    with _lock:
        version, triggers = _load_triggers()
        new = build(version, triggers)
        _index = new
        _built = True
        _sync_receivers(new)
        _disconnect_bootstrap()
        stats["rebuilds"] += 1
    return new


def _wanted(new: Index) -> dict[tuple[str, Any], Any]:
    """Which (verb, sender) pairs need DSN's receiver; sender ``None`` means any sender.

    For Django's save/delete signals the sender is the saved model, so the receiver is
    connected for exactly the models that have triggers: saving any other model never
    reaches DSN at all. Other signals get one receiver for every sender.
    """
    wanted: dict[tuple[str, Any], Any] = {}
    for name, entry in new.by_verb.items():
        verb = entry.verb
        if verb.sender_is_model and not entry.any_model:
            for model in entry.by_model:
                wanted[(name, model)] = verb.signal
        else:
            wanted[(name, None)] = verb.signal
    return wanted


def _sync_receivers(new: Index) -> None:
    from django.db.models.signals import pre_save

    wanted = _wanted(new)
    for key in list(_receivers):
        signal, receiver = _receivers[key]
        if wanted.get(key) is not signal:
            signal.disconnect(receiver, sender=key[1])
            del _receivers[key]
    for key, signal in wanted.items():
        if key not in _receivers:
            receiver = _verb_receivers.setdefault(key[0], _make_receiver(key[0]))
            signal.connect(receiver, sender=key[1], weak=False)
            _receivers[key] = (signal, receiver)
    for model in list(_previous_senders - set(new.previous_fields)):
        pre_save.disconnect(_capture_previous, sender=model)
        _previous_senders.discard(model)
    for model in new.previous_fields:
        if model not in _previous_senders:
            pre_save.connect(_capture_previous, sender=model, weak=False)
            _previous_senders.add(model)


def request_rebuild() -> None:
    """Rebuild now if the index was already built (a config edit in this process)."""
    if _built:
        try:
            rebuild()
        except Exception:
            logger.exception("DSN could not rebuild its trigger index")


def reset() -> None:
    """Forget the index: disconnect everything and go back to lazy bootstrapping (tests)."""
    global _index, _built
    with _lock:
        _index = Index()
        _built = False
        _sync_receivers(_index)
        install_bootstrap()


# -- bootstrap: build on the first signal, not at import time -----------------------------


def install_bootstrap() -> None:
    """Connect one-shot receivers that build the index when any verb first fires.

    Building in ``AppConfig.ready()`` would query the database during start-up (before
    ``migrate`` has run, on ``makemigrations`` ...). Instead the first signal of any
    registered verb builds the index once, then handles that same event.
    """
    from .verbs import all_verbs

    with _lock:
        _disconnect_bootstrap()
        if _built:
            return
        for name, verb in all_verbs().items():
            receiver = _make_bootstrap_receiver(name)
            verb.signal.connect(receiver, weak=False)
            _bootstrap.append((verb.signal, receiver))


def _make_bootstrap_receiver(verb_name: str) -> Callable[..., None]:
    def bootstrap(sender: Any, **kwargs: Any) -> None:
        if not _built:
            if _migrating or time.monotonic() < _retry_at:
                return
            try:
                rebuild()
            except Exception as exc:
                _bootstrap_failed(exc)
                return
        if verb_name == "pre_save" and kwargs.get("instance") is not None:
            _capture_previous(sender, kwargs["instance"], kwargs.get("raw", False))
        dispatch(verb_name, sender, kwargs)

    return bootstrap


_migrating = False
_retry_at = 0.0
_warned = False


def _bootstrap_failed(exc: Exception) -> None:
    """Log once (no traceback: usually the tables do not exist yet) and back off a second."""
    global _retry_at, _warned
    _count_error()
    _retry_at = time.monotonic() + 1.0
    if not _warned:
        _warned = True
        logger.warning("DSN could not load its triggers (%s: %s); is the database migrated?", type(exc).__name__, exc)


def migrating(flag: bool) -> None:
    """Pause bootstrapping while ``migrate`` runs (connected to pre/post_migrate)."""
    global _migrating, _retry_at
    _migrating = flag
    _retry_at = 0.0


def _disconnect_bootstrap() -> None:
    while _bootstrap:
        signal, receiver = _bootstrap.pop()
        signal.disconnect(receiver)


# -- cross-process reload -----------------------------------------------------------------


class Reloader(threading.Thread):
    """Polls the configuration version and rebuilds the index when it moved."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="dsn-reloader", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        from django.db import connection

        from .models import ConfigState

        while not self.stopped.wait(self.interval):
            try:
                if ConfigState.current() != _index.version:
                    rebuild()
            except Exception as exc:
                logger.debug("DSN reloader: %s", exc)
                connection.close()
        connection.close()


_reloader: Reloader | None = None


def start_reloader() -> None:
    """Start the polling thread for this process (again after a fork)."""
    global _reloader
    from .conf import get

    if not get("AUTO_RELOAD"):
        return
    if _reloader is not None and _reloader.is_alive() and _reloader_pid == os.getpid():
        return
    _set_reloader(Reloader(float(get("RELOAD_INTERVAL"))))


_reloader_pid = 0


def _set_reloader(thread: Reloader) -> None:
    global _reloader, _reloader_pid
    _reloader, _reloader_pid = thread, os.getpid()
    thread.start()


def _after_fork() -> None:
    global _reloader
    _reloader = None
    try:
        start_reloader()
    except Exception:  # settings not ready in a forked child that is not Django
        pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
