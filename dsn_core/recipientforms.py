"""The subscription form's recipients without JSON.

Dynamic receivers are ticked from a list: the people an object points at (``instance.owner``),
the event's actor, and every registered resolver with its description; paths the list does
not offer are typed one per line. Fixed addresses are one line per address, per channel,
each checked by the channel's own ``clean_address`` (an email, an E.164 number, a chat id).
Both are stored as the same JSON as before.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .plugins import registry


def user_paths(model: type[models.Model]) -> list[tuple[str, str]]:
    """``(path, words)`` for the fields of ``model`` that point at users."""
    user_model = get_user_model()
    out = []
    for field in model._meta.get_fields():
        if not field.is_relation or field.related_model is not user_model or field.auto_created:
            continue
        noun = model._meta.verbose_name
        out.append(
            (
                f"instance.{field.name}",
                str(
                    _("the %(model)s's %(field)s")
                    % {"model": noun, "field": getattr(field, "verbose_name", field.name)}
                ),
            )
        )
    return out


def group_label(model: type[models.Model]) -> str:
    """The heading of one model's receivers in the list."""
    return str(_("On the %(model)s") % {"model": model._meta.verbose_name})


def receiver_choices(model: type[models.Model] | None, models_offered: list[type[models.Model]]) -> list[Any]:
    """Grouped choices: on the object (for ``model``, else per offered model), then the others."""
    choices: list[Any] = []
    for other in [model] if model is not None else models_offered:
        paths = user_paths(other)
        if paths:
            choices.append((group_label(other), paths))
    others = [("actor", str(_("whoever did it (the event's actor)")))]
    for name, resolver in sorted(registry().resolvers.items()):
        others.append((f"@{name}", f"{name}: {resolver.description}" if resolver.description else name))
    choices.append((_("Others"), others))
    return choices


class ReceiverCheckboxes(forms.CheckboxSelectMultiple):
    """Ticks grouped by model; each model's ticks carry ``data-model`` (its content type's id), so
    the trigger page's script can show only the group of the model chosen there."""

    group_models: dict[str, int] = {}

    def optgroups(self, name: str, value: Any, attrs: dict[str, Any] | None = None) -> list[Any]:
        groups = super().optgroups(name, value, attrs)
        for group_name, options, _index in groups:
            model = self.group_models.get(str(group_name))
            if model is not None:
                for option in options:
                    option["attrs"] = {**option["attrs"], "data-model": str(model)}
        return groups


def flat_values(choices: list[Any]) -> set[str]:
    return {value for _group, items in choices for value, _label in items}


# -- fixed addresses -----------------------------------------------------------------------


def fixed_address_channels(stored: Any = ()) -> list[tuple[str, str]]:
    """``(key, label)`` of the channels that take fixed addresses, by label: internal ones
    (console, locmem) only when ``stored`` already names them."""
    messengers = registry().messengers
    pairs = [
        (k, str(c.label))
        for k, c in messengers.items()
        if getattr(c, "supports_fixed_addresses", False) and (not getattr(c, "internal", False) or k in stored)
    ]
    return sorted(pairs, key=lambda kv: kv[1].lower())


class FixedAddressesWidget(forms.Widget):
    """One textarea per channel, one address per line."""

    template_name = "dsn_core/widgets/fixed_addresses.html"

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        stored = _as_dict(value)
        rows = []
        for key, label in fixed_address_channels(stored):
            lines = stored.get(key) or []
            rows.append(
                {
                    "key": key,
                    "label": label,
                    "name": f"{name}__{key}",
                    "id": f"{context['widget']['attrs'].get('id', name)}_{key}",
                    "text": "\n".join(lines if isinstance(lines, list) else [str(lines)]),
                }
            )
        unknown = {k: v for k, v in stored.items() if k not in {r["key"] for r in rows}}
        context["rows"] = rows
        context["any"] = any(r["text"] for r in rows)
        context["unknown"] = json.dumps(unknown) if unknown else ""
        return context

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        if name in data:  # a form posted with the JSON itself
            return data[name]
        out: dict[str, Any] = {}
        for key in registry().messengers:
            lines = [line.strip() for line in str(data.get(f"{name}__{key}", "")).splitlines() if line.strip()]
            if lines:
                out[key] = lines
        keep = data.get(f"{name}__unknown")
        if keep:
            try:
                out.update(json.loads(keep))
            except (TypeError, ValueError):
                pass
        return out

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


class FixedAddressesField(forms.Field):
    """``{"messenger key": ["address", ...]}`` edited as lines; JSON text accepted too."""

    widget = FixedAddressesWidget

    def to_python(self, value: Any) -> dict[str, Any]:
        if value in self.empty_values:
            return {}
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValidationError(_("Invalid JSON: %(msg)s."), params={"msg": exc}) from exc
        if not isinstance(value, dict):
            raise ValidationError(_('Fixed addresses must be a JSON object like {"telegram": ["-100123"]}.'))
        return value

    def bound_data(self, data: Any, initial: Any) -> Any:
        return _as_dict(data)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return _as_dict(initial) != _as_dict(data)
