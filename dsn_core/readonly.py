"""Read-only views of what a message template sees: model instances, querysets, other objects.

Every render (send, admin preview, test send, ``dsn_render``) goes through
:func:`dsn_core.rendering.render`, which puts each context value behind one of these views,
whatever the template engine:

- names starting with ``_`` are not reachable (no ``_meta``, ``__class__``, ``__dict__``);
- secret-named fields, attributes and dict keys are hidden
  (:func:`dsn_core.redaction.is_secret_name`: ``password``, ``token``, ``key``, ``hash`` ...);
- nothing that writes is reachable: methods marked ``alters_data`` (``save``, ``delete``,
  ``create_user``...), everything ``django.db.models.Model`` itself defines (``save``,
  ``delete``, ``refresh_from_db``, ``full_clean``... ``pk`` excepted), a user's ``set_*`` and
  ``email_user``, every manager or queryset method but ``all``, ``count``, ``exists``,
  ``first`` and ``last``, and model classes (so no ``objects``);
- relations into DSN's own tables (``recipient.dsn_deliveries``, ``notification.deliveries``,
  a plugin's ``dsn_*`` app) are hidden: they hold other people's addresses and messages;
- methods are called without arguments only (as Django's template language does), and what
  they return is wrapped again, like every attribute, item and row reached through a view.

A hidden name behaves like a missing one (Django templates render ``""``). Views compare
equal to (and hash like) what they wrap, print the same, and iterate, index and measure
their contents as the wrapped object does.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from django.core.signals import setting_changed
from django.db import models
from django.db.models.manager import BaseManager

from .redaction import is_secret_name

#: Values shown as they are: immutable, with nothing to reach through them.
PLAIN = (
    str,
    int,
    float,
    bool,
    type(None),
    bytes,
    decimal.Decimal,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
)

#: What ``django.db.models.Model`` itself defines, reachable on no instance (``pk`` is kept).
_MODEL_NAMES = frozenset(name for name in dir(models.Model) if not name.startswith("_")) - {"pk"}
#: Methods of Django's user models that change the user or send something.
_WRITE_NAMES = frozenset({"set_password", "set_unusable_password", "email_user"})
#: The queryset and manager methods a template may use (none takes an argument).
_QUERY_NAMES = frozenset({"all", "count", "exists", "first", "last"})


def internal_model(model: Any) -> bool:
    """Whether ``model`` belongs to DSN itself (``dsn_core`` or a plugin app labelled ``dsn_*``)."""
    label = getattr(getattr(model, "_meta", None), "app_label", "")
    return label == "dsn_core" or label.startswith("dsn_")


def view(value: Any) -> Any:
    """``value`` as a template may see it: plain values as they are, anything else behind a view."""
    if value.__class__ in _SAFE_TYPES or isinstance(value, _SAFE):
        return value
    if isinstance(value, models.Model):
        cls = _view_classes.get(value.__class__)
        return (cls or _view_class(value.__class__))(value)
    if isinstance(value, (BaseManager, models.QuerySet)):
        return QuerySetView(value)
    if isinstance(value, dict):
        return {k: view(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [view(v) for v in value]
    if isinstance(value, type) and issubclass(value, models.Model):
        return None  # a model class leads to its managers
    if callable(value) and not isinstance(value, type):
        if getattr(value, "alters_data", False):
            return None
        return _CallableView(value)
    return ObjectView(value)


_SAFE: tuple[type, ...] = PLAIN  # PLAIN and the views (completed below the view classes)
_SAFE_TYPES: frozenset[type] = frozenset(PLAIN)  # the exact types, for a set lookup first


def _unwrap(value: Any) -> Any:
    return value._dsn_wrapped if isinstance(value, _View) else value


class _View:
    """What every view shares: the wrapped object, and comparisons through it."""

    __slots__ = ("_dsn_wrapped",)
    _dsn_wrapped: Any

    def __init__(self, wrapped: Any) -> None:
        object.__setattr__(self, "_dsn_wrapped", wrapped)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a template's view is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a template's view is read-only")

    def __str__(self) -> str:
        return str(self._dsn_wrapped)

    def __repr__(self) -> str:
        return repr(self._dsn_wrapped)

    def __eq__(self, other: object) -> bool:
        return bool(self._dsn_wrapped == _unwrap(other))

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self._dsn_wrapped)

    def __bool__(self) -> bool:
        return bool(self._dsn_wrapped)


def _attribute(obj: Any, name: str, filter_keys: bool) -> Any:
    """``obj.name`` through a view; ``AttributeError`` when hidden, missing, or it writes."""
    if name.startswith("_") or is_secret_name(name):
        raise AttributeError(name)
    return _shown(getattr(obj, name), name, filter_keys)


def _shown(value: Any, name: str, filter_keys: bool) -> Any:
    if isinstance(value, PLAIN):
        return value
    if filter_keys and isinstance(value, dict):  # e.g. a JSONField: no {"api_key": ...}
        return {k: view(v) for k, v in value.items() if not (isinstance(k, str) and is_secret_name(k))}
    shown = view(value)
    if shown is None:
        raise AttributeError(name)
    return shown


class ModelView(_View):
    """A model instance, read-only, without its secret-named fields or its writing methods.

    Each model gets its own subclass (:func:`_view_class`). The first read of a name decides
    whether it is hidden; a plain field that is not gets a property on that subclass, so later
    reads skip ``__getattr__`` (rendering is a hot loop).
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        obj = self._dsn_wrapped
        cls = obj.__class__
        key = (cls, name)
        hidden = _hidden.get(key)
        if hidden is None:
            hidden = _hidden[key] = _hidden_on_model(cls, name)
            if not hidden and type(self) is _view_classes.get(cls) and name in _field_names(cls):
                setattr(type(self), name, property(_reader(name)))
        if hidden:
            raise AttributeError(name)
        return _read_model(obj, name)


def _read_model(obj: Any, name: str) -> Any:
    value = getattr(obj, name)
    if value.__class__ in _SAFE_TYPES:
        return value
    return _shown(value, name, True)


def _field_names(model: type[models.Model]) -> set[str]:
    """Names every instance has: its concrete, non-relation fields (a property can stand for them)."""
    return {n for f in model._meta.concrete_fields if not f.is_relation for n in (f.name, f.attname)}


def _reader(name: str) -> Any:
    def read(self: ModelView) -> Any:
        return _read_model(self._dsn_wrapped, name)

    return read


#: ``model -> its ModelView subclass`` (with a property per name read and allowed so far).
_view_classes: dict[type, type] = {}


def _view_class(model: type) -> type:
    cls = _view_classes.get(model)
    if cls is None:
        cls = _view_classes[model] = type(f"{model.__name__}View", (ModelView,), {"__slots__": ()})
    return cls


#: ``(model, name) -> hidden?``, forgotten when the DSN setting changes (secret words may).
_hidden: dict[tuple[type, str], bool] = {}


def _hidden_on_model(model: type, name: str) -> bool:
    return (
        name.startswith("_")
        or name in _MODEL_NAMES
        or name in _WRITE_NAMES
        or is_secret_name(name)
        or _internal_relation(model, name)
    )


def _internal_relation(model: type, name: str) -> bool:
    """Whether ``model.name`` is a relation (either direction) to one of DSN's own models."""
    for field in model._meta.get_fields():  # type: ignore[attr-defined]
        if not field.is_relation or field.related_model is None:
            continue
        names = {field.name, getattr(field, "attname", None)}
        if field.auto_created and not field.concrete:  # reverse side: the accessor's name
            names.add(field.get_accessor_name())
        if name in names:
            return internal_model(field.related_model)
    return False


def _forget(setting: str, **kwargs: Any) -> None:
    if setting == "DSN":
        _hidden.clear()
        _view_classes.clear()  # their properties were decided under the old words


setting_changed.connect(_forget, dispatch_uid="dsn_core.readonly")


class QuerySetView(_View):
    """A manager or queryset: ``all``, ``count``, ``exists``, ``first``, ``last``, rows and slices."""

    __slots__ = ()

    def __init__(self, wrapped: Any) -> None:
        if isinstance(wrapped, BaseManager):
            wrapped = wrapped.all()  # lazy: no query until the template reads it
        super().__init__(wrapped)

    def __getattr__(self, name: str) -> Any:
        if name not in _QUERY_NAMES:
            raise AttributeError(name)
        queryset = self._dsn_wrapped
        if name == "all":
            return _CallableView(lambda: queryset)
        return _CallableView(getattr(queryset, name))

    def __iter__(self) -> Iterator[Any]:
        return (view(row) for row in self._dsn_wrapped)

    def __len__(self) -> int:
        return len(self._dsn_wrapped)

    def __bool__(self) -> bool:
        return bool(self._dsn_wrapped)

    def __getitem__(self, index: Any) -> Any:
        if not isinstance(index, (int, slice)):
            raise TypeError("rows are reached by position")
        return view(self._dsn_wrapped[index])

    def __str__(self) -> str:
        return str(list(self))


class ObjectView(_View):
    """Any other object: its public, non-secret attributes and items, each behind a view."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name in _WRITE_NAMES:
            raise AttributeError(name)
        return _attribute(self._dsn_wrapped, name, True)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str) and (key.startswith("_") or is_secret_name(key)):
            raise KeyError(key)
        return view(self._dsn_wrapped[key])

    def __iter__(self) -> Iterator[Any]:
        return (view(item) for item in self._dsn_wrapped)

    def __len__(self) -> int:
        return len(self._dsn_wrapped)


class _CallableView(_View):
    """A method a template may call: without arguments; what it returns is wrapped."""

    __slots__ = ()

    def __call__(self) -> Any:
        return view(self._dsn_wrapped())

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


_SAFE = (*PLAIN, _View)


class ReadOnlyContext(dict[str, Any]):
    """A template context whose every value is put behind a view when it is stored.

    :func:`dsn_core.rendering.render` uses a layer of this type as it is and wraps any other
    mapping into one, so values added later (``context["recipient"] = user``) are safe too.
    """

    def __init__(self, values: Any = (), **more: Any) -> None:
        super().__init__()
        items = values.items() if type(values) is dict or isinstance(values, Mapping) else values
        for key, value in items:
            dict.__setitem__(self, key, value if value.__class__ in _SAFE_TYPES else view(value))
        if more:
            self.update(more)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, view(value))

    def update(self, values: Any = (), /, **more: Any) -> None:
        items = values.items() if hasattr(values, "items") else values
        for key, value in items:
            self[key] = value
        for key, value in more.items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __ior__(self, other: Any) -> ReadOnlyContext:  # type: ignore[override,misc]  # as typeshed's dict.__ior__
        self.update(other)
        return self

    def copy(self) -> ReadOnlyContext:
        return ReadOnlyContext(self)
