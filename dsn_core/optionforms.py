"""Typed form fields from a messenger's declared ``Option``s, for the backend form.

Every installed messenger's options become real fields — a checkbox for ``bool``, a number
for ``int``/``float``, a dropdown for ``choices``, a text input otherwise — named
``options__<messenger key>__<option name>``; the options every backend accepts (its retry
policy) are named ``options____<name>``. The admin shows only the chosen messenger's group.
Nothing here knows any channel: a third-party messenger gets its form from its
``Option`` declarations alone. The ``Backend.options`` JSON column stays the storage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from django import forms
from django.utils.html import escape
from django.utils.translation import gettext_lazy as _

from .messengers import CORE_OPTIONS, Messenger, Option

PREFIX = "options__"
#: The group of options every messenger accepts (``options____retry_base`` ...).
CORE = ""


def field_name(messenger_key: str, option_name: str) -> str:
    """The form field name of one option of one messenger (``CORE`` for the shared ones)."""
    return f"{PREFIX}{messenger_key}__{option_name}"


def css_key(messenger_key: str) -> str:
    """``messenger_key`` made safe for a CSS class name."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", messenger_key) or "core"


def _label(option: Option) -> str:
    return option.name.replace("_", " ").capitalize()


def option_field(option: Option) -> forms.Field:
    """One typed form field for ``option``. Never required at the field level: only the chosen
    messenger's options are checked (by :func:`collect`), the other groups are ignored."""
    # The admin shows help text as HTML: a plugin's plain-text help ("Shop <noreply@...>") is escaped.
    common: dict[str, Any] = {"label": _label(option), "required": False, "help_text": escape(option.help)}
    default = option.default
    if option.choices:
        choices = [(str(c), str(c)) for c in option.choices]
        if not option.required or default is None:
            blank = _("(default: %(d)s)") % {"d": default} if default is not None else "---------"
            choices.insert(0, ("", blank))
        return forms.ChoiceField(choices=choices, **common)
    if option.type is bool:
        return forms.BooleanField(**common)
    if option.type is int:
        return forms.IntegerField(**common)
    if option.type is float:
        return forms.FloatField(**common)
    field = forms.CharField(**common)
    if default not in (None, ""):
        field.widget.attrs["placeholder"] = str(default)
    return field


def fields_for(messenger_classes: Mapping[str, type]) -> dict[str, forms.Field]:
    """Every option field: each messenger's own, then the shared ones."""
    out: dict[str, forms.Field] = {}
    for key, cls in messenger_classes.items():
        for option in getattr(cls, "options", ()):
            out[field_name(key, option.name)] = option_field(option)
    for option in CORE_OPTIONS:
        out[field_name(CORE, option.name)] = option_field(option)
    return out


def groups(messenger_classes: Mapping[str, type[Messenger]]) -> Iterator[tuple[str, type[Messenger] | None, list[str]]]:
    """``(key, class, field names)`` per messenger with options, then ``(CORE, None, ...)``."""
    for key, cls in messenger_classes.items():
        names = [field_name(key, o.name) for o in getattr(cls, "options", ())]
        if names:
            yield key, cls, names
    yield CORE, None, [field_name(CORE, o.name) for o in CORE_OPTIONS]


def initial_for(cls: type, stored: Mapping[str, Any]) -> dict[str, Any]:
    """Initial field values for a backend of ``cls`` with ``stored`` options (defaults filled)."""
    initial: dict[str, Any] = {}
    key = getattr(cls, "key", "")
    for option in getattr(cls, "options", ()):
        value = stored.get(option.name, option.default)
        if value is not None:
            initial[field_name(key, option.name)] = value
    for option in CORE_OPTIONS:
        if stored.get(option.name) is not None:
            initial[field_name(CORE, option.name)] = stored[option.name]
    return initial


def collect(cls: type, cleaned_data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The options dict to store for ``cls`` from typed fields, and ``{field name: error}``
    for required options left empty. Empty fields are left out (the default applies)."""
    options: dict[str, Any] = {}
    missing: dict[str, str] = {}
    key = getattr(cls, "key", "")
    pairs = [(o, field_name(key, o.name)) for o in getattr(cls, "options", ())]
    pairs += [(o, field_name(CORE, o.name)) for o in CORE_OPTIONS]
    for option, name in pairs:
        value = cleaned_data.get(name)
        if option.type is bool and not option.choices:
            options[option.name] = bool(value)
            continue
        if value in (None, ""):
            if option.required:
                missing[name] = str(
                    _("%(label)s is required for %(messenger)s.")
                    % {"label": _label(option), "messenger": getattr(cls, "label", key)}
                )
            continue
        if option.choices:  # the dropdown posts text: give back the declared value
            value = next((c for c in option.choices if str(c) == value), value)
        options[option.name] = value
    return options, missing
