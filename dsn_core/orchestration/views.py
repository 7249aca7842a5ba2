"""The person's own page for orchestration: preferred channel order, quiet hours, time zone.

Linked from the preferences page; the channels offered are the ones the person has an
address on (for the backends this site uses).
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from .models import DeliveryPreference

RANKS = 3


def reachable_channels(user: Any) -> list[tuple[str, str]]:
    """(messenger key, label) of every channel this site uses on which ``user`` has an address."""
    from ..models import Backend
    from ..plugins import get_messenger_class

    found: dict[str, str] = {}
    for backend in Backend.objects.order_by("pk"):
        cls = get_messenger_class(backend.messenger)
        if cls is None or backend.messenger in found:
            continue
        try:
            if cls(backend.options).addresses_for([user]).get(user.pk):
                found[backend.messenger] = str(cls.label)
        except Exception:
            continue
    return sorted(found.items(), key=lambda item: item[1])


class PreferenceForm(forms.Form):
    """Ranked channel choices, quiet hours and a time zone, as typed fields."""

    quiet_start = forms.TimeField(
        label=_("Quiet hours from"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_end = forms.TimeField(label=_("until"), required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    time_zone = forms.ChoiceField(label=_("Time zone"), required=False)

    def __init__(self, *args: Any, channels: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "—"), *channels]
        for rank in range(1, min(RANKS, len(channels)) + 1):
            self.fields[f"channel_{rank}"] = forms.ChoiceField(
                label=_("Choice %(n)s") % {"n": rank}, choices=choices, required=False
            )
        time_zone = self.fields["time_zone"]
        assert isinstance(time_zone, forms.ChoiceField)
        time_zone.choices = [("", _("the site's (%(zone)s)") % {"zone": settings.TIME_ZONE})] + [
            (z, z) for z in sorted(zoneinfo.available_timezones())
        ]

    def ranked_fields(self) -> list[Any]:
        return [self[name] for name in self.fields if name.startswith("channel_")]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("quiet_start")) != bool(data.get("quiet_end")):
            raise forms.ValidationError(_("Give both ends of the quiet hours, or neither."))
        ranked = [data.get(name) for name in self.fields if name.startswith("channel_")]
        chosen = [key for key in ranked if key]
        if len(chosen) != len(set(chosen)):
            raise forms.ValidationError(_("Choose each channel once."))
        data["channel_order"] = ",".join(chosen)
        return data


@login_required
@require_http_methods(["GET", "POST"])
def delivery_preferences(request: HttpRequest) -> HttpResponse:
    """Let a logged-in user rank their channels and set quiet hours in their time zone."""
    user = request.user
    assert user.is_authenticated  # login_required
    channels = reachable_channels(user)
    current = DeliveryPreference.objects.filter(user=user).first()
    initial: dict[str, Any] = {}
    if current is not None:
        initial = {"quiet_start": current.quiet_start, "quiet_end": current.quiet_end, "time_zone": current.time_zone}
        initial.update({f"channel_{i}": key for i, key in enumerate(current.channels, start=1)})
    form = PreferenceForm(request.POST or None, channels=channels, initial=initial)
    saved = False
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        DeliveryPreference.objects.update_or_create(
            user=user,
            defaults={
                "channel_order": data["channel_order"],
                "quiet_start": data.get("quiet_start"),
                "quiet_end": data.get("quiet_end"),
                "time_zone": data.get("time_zone") or "",
            },
        )
        saved = True
    return render(request, "dsn_core/delivery_preferences.html", {"form": form, "saved": saved})
