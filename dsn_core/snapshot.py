"""Snapshots of signal arguments: what a Notification stores so that its message reads
right later, even after the object was changed or deleted.

A model instance becomes ``{"$model": "app.model", "pk": ..., "fields": {attname: value}}``
(no query is made: related objects are kept as their ids). :func:`restore` turns it back
into an unsaved-looking model instance whose related objects load lazily.
"""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
from typing import Any

from django.apps import apps
from django.db import models

from .redaction import is_secret_name

_PRIMITIVES = (str, int, float, bool, type(None))


def _is_secret(field: models.Field) -> bool:
    """Secret-named fields (a user's password hash, API keys) are never copied into a snapshot."""
    return is_secret_name(field.name)


MODEL_KEY = "$model"


def _field_value(field: models.Field, obj: models.Model) -> Any:
    value = field.value_from_object(obj) if not field.is_relation else getattr(obj, field.attname)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(field, models.JSONField):
        return value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time, decimal.Decimal, uuid.UUID)):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return field.value_to_string(obj)


def snapshot(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of ``value``; model instances are stored field by field."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN/Infinity are not JSON; databases reject them
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, models.Model):
        meta = value._meta
        return {
            MODEL_KEY: meta.label_lower,
            "pk": _jsonable(value.pk),
            "fields": {f.attname: _field_value(f, value) for f in meta.concrete_fields if not _is_secret(f)},
        }
    if depth < 3 and isinstance(value, (list, tuple, set, frozenset)):
        return [snapshot(v, depth + 1) for v in value]
    if depth < 3 and isinstance(value, dict):
        return {str(k): snapshot(v, depth + 1) for k, v in value.items()}
    if isinstance(value, type) and issubclass(value, models.Model):
        return value._meta.label_lower
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def restore(value: Any) -> Any:
    """Undo :func:`snapshot`: model snapshots become model instances again."""
    if isinstance(value, dict):
        if MODEL_KEY in value and "fields" in value:
            return _restore_instance(value)
        return {k: restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [restore(v) for v in value]
    return value


class MissingModel:
    """Stands in for an instance whose model is no longer installed."""

    def __init__(self, label: str, pk: Any, fields: dict[str, Any]) -> None:
        self._label, self.pk = label, pk
        self.__dict__.update(fields)

    def __str__(self) -> str:
        return f"{self._label} #{self.pk}"


def _restore_instance(data: dict[str, Any]) -> Any:
    label = data[MODEL_KEY]
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        return MissingModel(label, data.get("pk"), data.get("fields", {}))
    values = data.get("fields", {})
    kwargs: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.attname not in values:
            continue
        raw = values[field.attname]
        target = field.target_field if field.is_relation else field
        try:
            kwargs[field.attname] = raw if isinstance(field, models.JSONField) else target.to_python(raw)
        except Exception:
            kwargs[field.attname] = raw
    instance = model(**kwargs)
    instance._state.adding = False
    return instance
