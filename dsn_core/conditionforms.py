"""The trigger form's condition builder and the models an admin is offered.

The builder (in ``static/dsn_core/admin.js``) edits rows of *field · operator · value*
and writes the same JSON list :mod:`dsn_core.conditions` validates; the JSON stays
editable under an "advanced" disclosure for what the builder cannot show. This module
gives the script what it needs: the operators in words, and each offered model's
concrete fields with their kind (choice, boolean, date, number, text) and choices.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

from django import forms
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from .conditions import ALL_OPS

#: Operators in words, in the order the builder offers them. ``created_false`` is the
#: builder's name for ``{"op": "created", "value": false}``.
OP_WORDS: dict[str, Any] = {
    "eq": _("is"),
    "ne": _("is not"),
    "in": _("is one of"),
    "changed_from_to": _("changed from … to …"),
    "changed": _("changed"),
    "empty": _("is empty"),
    "not_empty": _("is not empty"),
    "created": _("was created (a new row)"),
    "created_false": _("was updated (not a new row)"),
}

#: Apps whose models are DSN's or Django's own machinery, not offered as trigger models.
INTERNAL_APPS = (
    "dsn_core",
    "contenttypes",
    "sessions",
    "admin",
    "django_tasks",
    "django_tasks_db",
    "django_tasks_database",
)
INTERNAL_MODELS = (("auth", "permission"),)


def offered_content_types(current: Any = None) -> QuerySet:
    """Content types an admin may pick for a trigger: without internal tables, but always with
    ``current`` (the stored value), so an existing trigger shows what it has."""
    hidden = Q(app_label__in=INTERNAL_APPS)
    for app_label, model in INTERNAL_MODELS:
        hidden |= Q(app_label=app_label, model=model)
    keep = ~hidden
    if current:
        keep |= Q(pk=getattr(current, "pk", current))
    return ContentType.objects.filter(keep).order_by("app_label", "model")


def _kind(field: models.Field) -> str:
    if field.choices:
        return "choice"
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, models.DateTimeField):
        return "datetime"
    if isinstance(field, models.DateField):
        return "date"
    if isinstance(field, (models.IntegerField, models.FloatField, models.DecimalField)):
        return "number"
    return "text"


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (decimal.Decimal, datetime.date, datetime.time)):
        return str(value)
    return str(value)


def model_fields(model: type[models.Model]) -> list[dict[str, Any]]:
    """The concrete fields conditions may name, for the builder's field dropdown."""
    out = []
    for field in model._meta.concrete_fields:
        entry: dict[str, Any] = {"name": field.name, "label": str(field.verbose_name), "kind": _kind(field)}
        if field.choices:
            entry["choices"] = [[_json_value(v), str(label)] for v, label in field.flatchoices]
        if field.is_relation:
            entry["label"] += f" ({_('id')})"
        out.append(entry)
    return out


def builder_data(content_types: QuerySet) -> dict[str, Any]:
    """Everything the builder script needs, as JSON-ready data."""
    models_data = {}
    for ct in content_types:
        model = ct.model_class()
        if model is not None:
            models_data[str(ct.pk)] = {"label": str(model._meta.verbose_name), "fields": model_fields(model)}
    ops = [[op, str(words)] for op, words in OP_WORDS.items() if op in ALL_OPS or op == "created_false"]
    texts = {
        "add": str(_("Add a condition")),
        "remove": str(_("Remove")),
        "and": str(_("and")),
        "from": str(_("from")),
        "to": str(_("to")),
        "anything": str(_("(anything)")),
        "none": str(_("No conditions: every event of this kind matches.")),
        "no_model": str(_("Choose the action object model above to build conditions on its fields.")),
        "advanced_only": str(_("These conditions use something the builder cannot show; edit them as JSON.")),
        "comma": str(_("separate values with commas")),
    }
    return {"ops": ops, "models": models_data, "texts": texts}


class ConditionsWidget(forms.Textarea):
    """The JSON textarea inside an "advanced" disclosure, below a builder the script draws.

    Without JavaScript the disclosure is open and the JSON is edited as before.
    """

    template_name = "dsn_core/widgets/conditions.html"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"rows": 6, "cols": 80, "class": "vLargeTextField", "spellcheck": "false", **(attrs or {})})
        self.content_types: QuerySet | None = None

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        content_types = self.content_types if self.content_types is not None else offered_content_types()
        context["builder"] = builder_data(content_types)
        context["builder_id"] = f"{context['widget']['attrs'].get('id', name)}-builder-data"
        return context
