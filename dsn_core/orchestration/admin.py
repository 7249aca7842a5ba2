"""Orchestration in the admin: typed fields on the subscription page (an inline for its
policy, one for its fallback chain) and each person's delivery preferences."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import DeliveryPreference, Digest, FallbackStep, SubscriptionPolicy


class SubscriptionPolicyInline(admin.StackedInline):
    """Digest, throttle, routing and quiet hours, grouped as the user guide explains them."""

    model = SubscriptionPolicy
    can_delete = True
    extra = 0
    max_num = 1
    verbose_name = _("orchestration (digest, throttle, routing, quiet hours)")
    verbose_name_plural = verbose_name
    fieldsets = (
        (
            _("Digest"),
            {"fields": ("digest", "digest_minutes", "digest_at", "digest_max_events", "digest_first_immediately")},
        ),
        (_("Throttle"), {"fields": ("throttle_limit", "throttle_minutes", "throttle_scope", "throttle_overflow")}),
        (_("Routing"), {"fields": ("routing", "fallback_on_receipt")}),
        (_("Quiet hours"), {"fields": ("respect_quiet_hours",)}),
    )


class FallbackStepInline(admin.TabularInline):
    """The order a fallback chain tries the subscription's backends in."""

    model = FallbackStep
    extra = 0
    fields = ("position", "backend")
    autocomplete_fields = ("backend",)
    verbose_name = _("fallback step")
    verbose_name_plural = _("fallback chain (lowest position first; used when routing is a chain or preferred)")


class DeliveryPreferenceForm(forms.ModelForm):
    class Meta:
        model = DeliveryPreference
        fields = ("user", "channel_order", "quiet_start", "quiet_end", "time_zone")

    def clean_channel_order(self) -> str:
        from ..plugins import registry

        keys = [k.strip() for k in self.cleaned_data["channel_order"].split(",") if k.strip()]
        unknown = [k for k in keys if k not in registry().messengers]
        if unknown:
            raise forms.ValidationError(_("No messenger named %(keys)s is installed.") % {"keys": ", ".join(unknown)})
        return ",".join(dict.fromkeys(keys))


@admin.register(DeliveryPreference)
class DeliveryPreferenceAdmin(admin.ModelAdmin):
    form = DeliveryPreferenceForm
    list_display = ("user", "channel_order", "quiet_start", "quiet_end", "time_zone")
    autocomplete_fields = ("user",)

    def get_search_fields(self, request: HttpRequest) -> Any:
        from django.contrib.auth import get_user_model

        return (f"user__{get_user_model().USERNAME_FIELD}",)


@admin.register(Digest)
class DigestAdmin(admin.ModelAdmin):
    """Digest windows, open and closed (a log: viewed, never edited)."""

    list_display = ("id", "subscription", "backend", "address", "count", "opened_at", "due_at", "closed_at", "delivery")
    list_filter = ("closed_at", "subscription", "backend")
    search_fields = ("address",)
    list_select_related = ("subscription__trigger", "backend")
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("dsn_core.view_digest") or request.user.has_perm("dsn_core.view_delivery")
