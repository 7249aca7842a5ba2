"""Declarative trigger conditions: validated when a trigger is saved, compiled for the hot path.

A trigger's ``conditions`` is a JSON list; every item must hold for the trigger to match::

    [{"op": "created"}]  # post_save of a new row
    [{"op": "created", "value": false}]  # post_save of an existing row
    [{"field": "status", "op": "eq", "value": "paid"}]  # also "ne"
    [{"field": "status", "op": "in", "value": ["paid", "shipped"]}]
    [{"field": "note", "op": "empty"}]  # also "not_empty"
    [{"field": "status", "op": "changed"}]
    [{"field": "status", "op": "changed_from_to", "from": "draft", "to": "paid"}]

No expression is ever evaluated. ``changed`` conditions read the row's previous values
with one query in ``pre_save`` — only for models that have such a trigger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

FIELD_OPS = {"eq", "ne", "in", "empty", "not_empty", "changed", "changed_from_to"}
CHANGE_OPS = {"changed", "changed_from_to"}
ALL_OPS = FIELD_OPS | {"created"}
_NOTHING = object()


@dataclass(frozen=True)
class Condition:
    """One compiled condition (values already converted to the field's Python type)."""

    op: str
    attname: str = ""
    value: Any = None
    before: Any = _NOTHING
    after: Any = _NOTHING
    #: The field's ``to_python``: values assigned as text ("12.50") compare as the field's type.
    convert: Any = None

    def holds(self, instance: Any, kwargs: Mapping[str, Any], previous: Mapping[str, Any] | None) -> bool:
        op = self.op
        if op == "created":
            return bool(kwargs.get("created")) is self.value
        current = getattr(instance, self.attname, None)
        if self.convert is not None and current is not None:
            try:
                current = self.convert(current)
            except (ValidationError, TypeError, ValueError):
                pass
        if op == "eq":
            return current == self.value
        if op == "ne":
            return current != self.value
        if op == "in":
            return current in self.value
        if op == "empty":
            return current in (None, "", [], {})
        if op == "not_empty":
            return current not in (None, "", [], {})
        if previous is None:  # a new row: nothing changed from anything
            return False
        old = previous.get(self.attname)
        if op == "changed":
            return old != current
        # changed_from_to
        if old == current:
            return False
        if self.before is not _NOTHING and old != self.before:
            return False
        return self.after is _NOTHING or current == self.after


def _field(model: type[models.Model], name: str) -> Any:
    """The concrete field ``name`` of ``model`` (a ``models.Field``; ``Any`` for its relation
    attributes such as ``target_field``, which only relational fields have)."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        names = sorted(f.name for f in model._meta.concrete_fields)
        raise ValidationError(f"{model._meta.label} has no field {name!r}; fields are: {', '.join(names)}.") from None
    if not getattr(field, "concrete", False) or field.many_to_many:
        raise ValidationError(f"{name!r} is not a plain column of {model._meta.label}; use a concrete field.")
    return field


def _convert(field: Any, value: Any, where: str) -> Any:
    if value is None:
        return None
    target = field.target_field if field.is_relation else field
    try:
        return target.to_python(value)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {value!r} is not a valid {field.name}: {' '.join(exc.messages)}") from None


def compile_conditions(raw: Any, model: type[models.Model] | None, verb: str = "") -> tuple[Condition, ...]:
    """Validate ``raw`` conditions against ``model``; return compiled conditions.

    Raises ``ValidationError`` with one message per problem, naming the item.
    """
    if raw in (None, ""):
        return ()
    if not isinstance(raw, list):
        raise ValidationError("Conditions must be a JSON list of objects.")
    compiled: list[Condition] = []
    errors: list[str] = []
    for number, item in enumerate(raw, start=1):
        where = f"condition {number}"
        try:
            compiled.append(_compile_one(item, model, verb, where))
        except ValidationError as exc:
            errors.extend(f"{where}: {m}" if not m.startswith(where) else m for m in exc.messages)
    if errors:
        raise ValidationError(errors)
    return tuple(compiled)


def _compile_one(item: Any, model: type[models.Model] | None, verb: str, where: str) -> Condition:
    if not isinstance(item, dict):
        raise ValidationError('must be an object like {"field": ..., "op": ..., "value": ...}.')
    op = item.get("op")
    if op not in ALL_OPS:
        raise ValidationError(f"unknown op {op!r}; use one of {', '.join(sorted(ALL_OPS))}.")
    allowed_keys = {"op", "field", "value", "from", "to"}
    extra = sorted(set(item) - allowed_keys)
    if extra:
        raise ValidationError(f"unknown key(s) {', '.join(extra)}.")
    if op == "created":
        if verb and verb != "post_save":
            raise ValidationError("'created' only applies to the post_save verb.")
        value = item.get("value", True)
        if not isinstance(value, bool):
            raise ValidationError("'created' takes true or false.")
        return Condition("created", value=value)
    if model is None:
        raise ValidationError(f"{op!r} needs the trigger's action object model to be chosen.")
    name = item.get("field")
    if not isinstance(name, str) or not name:
        raise ValidationError(f'{op!r} needs a "field".')
    field = _field(model, name)
    attname = field.attname
    convert = (field.target_field if field.is_relation else field).to_python
    if op in CHANGE_OPS and verb and verb not in ("pre_save", "post_save"):
        raise ValidationError(f"{op!r} only applies to pre_save and post_save.")
    if op in ("eq", "ne"):
        if "value" not in item:
            raise ValidationError(f'{op!r} needs a "value".')
        return Condition(op, attname, _convert(field, item["value"], where), convert=convert)
    if op == "in":
        values = item.get("value")
        if not isinstance(values, list) or not values:
            raise ValidationError("'in' needs a non-empty list as \"value\".")
        return Condition(op, attname, tuple(_convert(field, v, where) for v in values), convert=convert)
    if op == "changed_from_to":
        if "from" not in item and "to" not in item:
            raise ValidationError('\'changed_from_to\' needs "from", "to" or both.')
        before = _convert(field, item["from"], where) if "from" in item else _NOTHING
        after = _convert(field, item["to"], where) if "to" in item else _NOTHING
        return Condition(op, attname, before=before, after=after, convert=convert)
    return Condition(op, attname, convert=convert)


def validate_conditions(raw: Any, model: type[models.Model] | None, verb: str = "") -> list[dict[str, Any]]:
    """Validate for a form/``clean()``: return ``raw`` unchanged or raise ``ValidationError``."""
    compile_conditions(raw, model, verb)
    return raw if raw not in (None, "") else []


def change_fields(conditions: tuple[Condition, ...]) -> frozenset[str]:
    """The attnames whose previous values these conditions need."""
    return frozenset(c.attname for c in conditions if c.op in CHANGE_OPS)
