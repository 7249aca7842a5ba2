"""Argument helpers shared by DSN's management commands (not a command: leading underscore)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError


def parse_pairs(pairs: Iterable[str] | None, flag: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``; values are JSON when they parse as JSON."""
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CommandError(f"{flag} takes key=value with a Python identifier as key, not {pair!r}.")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out[key] = value
    return out


def get_model(label: str, flag: str = "--model") -> type:
    """The model ``app_label.model_name``; ``CommandError`` if there is none."""
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise CommandError(f"{flag}: no installed model {label!r}; use app_label.model_name, e.g. auth.user.") from None


def get_object(model: type, pk: str, flag: str = "--pk") -> Any:
    """``model``'s row ``pk``; ``CommandError`` naming what is missing."""
    from dsn_core.forms import find_object

    try:
        return find_object(model, pk)
    except ValidationError as exc:
        raise CommandError(f"{flag}: {' '.join(exc.messages)}") from None


def get_user(username: str) -> Any:
    """The user with this username (the user model's ``USERNAME_FIELD``)."""
    user_model = get_user_model()
    try:
        return user_model._default_manager.get_by_natural_key(username)
    except user_model.DoesNotExist:
        raise CommandError(f"--user: no user {username!r}.") from None
