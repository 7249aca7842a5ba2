"""What a template may use: the variables for the triggers that send it, for the help panel."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from .models import MessageTemplate, Trigger
from .redaction import is_secret_name  # the same rule the templates' read-only views apply

#: Variables every message has, with what they hold (see dsn_core.rendering).
COMMON = (
    ("recipient", "the person receiving the message (empty for a fixed address)"),
    ("actor", "who did it (the signal's actor, if it names one)"),
    ("target", "the signal's target, if it names one"),
    ("verb", "what happened (the event's name)"),
    ("address", "the address the message goes to"),
    ("site", "the current site (with django.contrib.sites)"),
    ("unsubscribe_url", "a link that stops these messages (needs dsn_core.urls)"),
    ("preferences_url", "a link to the person's notification preferences page (needs dsn_core.urls)"),
)


def template_variables(template: MessageTemplate | None) -> list[dict[str, Any]]:
    """Groups of ``{"title", "items": [(expression, description)]}`` for ``template``'s panel:
    the fields of each model its triggers are about, then the variables every message has."""
    groups: list[dict[str, Any]] = []
    seen: set[int] = set()
    triggers = Trigger.objects.none()
    if template is not None and template.pk:
        triggers = (
            Trigger.objects.filter(subscriptions__backends__template=template)
            .select_related("action_object_type")
            .distinct()
        )
    for trigger in triggers:
        ct = trigger.action_object_type
        model = ct.model_class() if ct is not None else None
        if ct is None or model is None or ct.pk in seen:
            continue
        seen.add(ct.pk)
        items = [("instance", str(model._meta.verbose_name))]
        items += [
            (f"instance.{f.name}", str(f.verbose_name))
            for f in model._meta.concrete_fields
            if not is_secret_name(f.name)
        ]
        title = _("The %(model)s (instance), from trigger “%(trigger)s”") % {
            "model": model._meta.verbose_name,
            "trigger": trigger.name,
        }
        groups.append({"title": title, "items": items})
    groups.append({"title": _("Every message"), "items": [(name, _(text)) for name, text in COMMON]})
    return groups
