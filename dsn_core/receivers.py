"""Who receives a notification: users, groups, dynamic receivers and fixed addresses.

A dynamic receiver is either a path on the event, starting with ``instance`` (alias
``action_object``), ``actor`` or ``target`` and following attributes
(``instance.owner``, ``instance.team.members``), or ``@name`` for a resolver that a
plugin registered with the ``register_receiver_resolvers`` hook.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

ROOTS = ("instance", "action_object", "actor", "target")


@dataclass(frozen=True)
class Resolver:
    """A named dynamic receiver registered by a plugin."""

    name: str
    function: Callable[[Event], Iterable[Any]]
    description: str = ""


@dataclass
class Event:
    """A notification's event, restored from its snapshot (what resolvers and templates see)."""

    verb: str
    action_object: Any = None
    actor: Any = None
    target: Any = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def instance(self) -> Any:
        return self.action_object

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> Event:
        from .snapshot import restore

        return cls(
            verb=context.get("verb", ""),
            action_object=restore(context.get("action_object")),
            actor=restore(context.get("actor")),
            target=restore(context.get("target")),
            kwargs=restore(context.get("kwargs") or {}),
        )


def _resolvers() -> dict[str, Resolver]:
    from .plugins import registry

    return registry().resolvers


def validate_dynamic_receivers(raw: Any, trigger: Any = None) -> list[str]:
    """Check a subscription's dynamic receivers; raise ``ValidationError`` naming each bad one."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValidationError('Dynamic receivers must be a JSON list of strings, e.g. ["instance.owner"].')
    model = None
    if trigger is not None and trigger.action_object_type_id:
        model = trigger.action_object_type.model_class()
    errors = []
    for entry in raw:
        problem = _check_entry(entry.strip(), model)
        if problem:
            errors.append(f"{entry!r}: {problem}")
    if errors:
        raise ValidationError(errors)
    return [e.strip() for e in raw]


def _check_entry(entry: str, model: type[models.Model] | None) -> str:
    if entry.startswith("@"):
        if entry[1:] not in _resolvers():
            known = ", ".join("@" + n for n in sorted(_resolvers())) or "none installed"
            return f"no resolver named {entry}; available: {known}"
        return ""
    parts = entry.split(".")
    if parts[0] not in ROOTS or not all(p.isidentifier() and not p.startswith("_") for p in parts):
        return f"must start with one of {', '.join(ROOTS)} and follow attribute names"
    if parts[0] in ("instance", "action_object") and model is not None:
        current: Any = model
        for part in parts[1:]:
            if current is None:
                break
            try:
                fld = current._meta.get_field(part)
            except FieldDoesNotExist:
                if hasattr(current, part):
                    current = None  # a property or method: cannot check further
                    continue
                return f"{current._meta.label} has no field or attribute {part!r}"
            current = fld.related_model if fld.is_relation else None
    return ""


def _users_from(value: Any, user_model: type) -> Iterator[Any]:
    if value is None:
        return
    if isinstance(value, user_model):
        yield value
        return
    if isinstance(value, models.Manager):
        value = value.all()
    if isinstance(value, models.QuerySet):
        if value.model is user_model:
            yield from value.iterator(chunk_size=2000)
        return
    if isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _users_from(item, user_model)


def resolve_path(event: Event, path: str) -> Any:
    """Follow ``path`` (``instance.team.members``) on ``event``; ``None`` if a link is missing."""
    parts = path.split(".")
    value: Any = getattr(event, "action_object" if parts[0] == "instance" else parts[0])
    for part in parts[1:]:
        if value is None:
            return None
        try:
            value = getattr(value, part)
        except (AttributeError, models.ObjectDoesNotExist):
            return None
        if callable(value) and not isinstance(value, models.Manager):
            value = value()
    return value


def dynamic_users(event: Event, entries: Iterable[str]) -> Iterator[Any]:
    """Users found on the event by a subscription's dynamic receivers."""
    user_model = get_user_model()
    resolvers = _resolvers()
    for entry in entries:
        if entry.startswith("@"):
            resolver = resolvers.get(entry[1:])
            if resolver is None:
                continue
            yield from _users_from(list(resolver.function(event)), user_model)
        else:
            yield from _users_from(resolve_path(event, entry), user_model)


def validate_fixed_addresses(raw: Any) -> dict[str, list[str]]:
    """Check ``{"messenger": ["address", ...]}``; each address is cleaned by its messenger."""
    from .plugins import get_messenger_class

    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise ValidationError('Fixed addresses must be a JSON object like {"telegram": ["-100123"]}.')
    cleaned: dict[str, list[str]] = {}
    errors: list[str] = []
    for key, addresses in raw.items():
        cls = get_messenger_class(key)
        if cls is None:
            errors.append(f"{key!r}: no messenger with this key is installed.")
            continue
        if not cls.supports_fixed_addresses:
            errors.append(f"{key!r}: this messenger does not take fixed addresses.")
            continue
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list):
            errors.append(f"{key!r}: give a list of addresses.")
            continue
        out = []
        for address in addresses:
            try:
                out.append(cls.clean_address(str(address)))
            except ValidationError as exc:
                errors.append(f"{key!r}: {address!r}: {' '.join(exc.messages)}")
        cleaned[key] = out
    if errors:
        raise ValidationError(errors)
    return cleaned


def events_for(notification_ids: Iterable[Any]) -> dict[Any, Event]:
    """The events of these notifications, restored from their snapshots, in one query.

    For messengers that need more of the event than the rendered message carries (a link to
    the action object, say): ``events_for(m.notification_id for m in messages)``.
    """
    from .models import Notification

    ids = {pk for pk in notification_ids if pk is not None}
    if not ids:
        return {}
    rows = Notification.objects.filter(pk__in=ids).values_list("pk", "context")
    return {pk: Event.from_context(context) for pk, context in rows}
