"""DSN's Django admin.

Configuration (triggers, templates, backends, subscriptions, the address book, opt-outs)
is edited here; the logs (notifications, deliveries) are read-only, with "retry now" and
"resend" actions on deliveries. Template preview and "send a test to me" are custom views
mounted through ``get_urls()`` and wrapped in ``admin_site.admin_view()``; sending is a
POST (CSRF-protected) that checks the template's change permission.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import optionforms
from .conditionforms import builder_data, offered_content_types
from .errors import DSNError, TemplateError
from .forms import (
    AddressForm,
    BackendForm,
    MessageTemplateForm,
    OptOutForm,
    PreviewForm,
    SendTestForm,
    SubscriptionForm,
    TriggerForm,
    describe_outcome,
    may_view,
    messenger_label,
    redact,
    render_for,
    send_by_hand,
)
from .messengers import Message, Messenger
from .models import Address, Backend, Delivery, MessageTemplate, Notification, OptOut, Subscription, Trigger
from .orchestration.admin import FallbackStepInline, SubscriptionPolicyInline
from .plugins import messenger_choices, registry
from .readiness import readiness
from .redaction import is_secret_name
from .templatehelp import template_variables

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldOpts, _FieldsetSpec

S = Delivery.Status
#: Deliveries "retry now" puts back in the queue.
RETRYABLE = (S.PENDING, S.FAILED, S.DEAD)
#: Deliveries "resend" sends again as a new delivery.
RESENDABLE = (S.SENT, S.DEAD)
#: Deliveries "cancel" stops: not yet with the provider ("sending" ones may already be).
CANCELLABLE = (S.PENDING, S.FAILED)
#: Keys of a snapshot whose values are never shown (a user's password hash ...).
SENSITIVE_KEY = re.compile(r"pass(word|wd)?|secret|token|api_?key|private_?key|credential|signature", re.I)


def _user_search_field(prefix: str) -> str:
    return f"{prefix}__{get_user_model().USERNAME_FIELD}"


def mask_sensitive(value: Any) -> Any:
    """A copy of a JSON snapshot with the values of sensitive-looking keys replaced."""
    if isinstance(value, dict):
        return {k: "***" if SENSITIVE_KEY.search(str(k)) else mask_sensitive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_sensitive(v) for v in value]
    return value


def _enable(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, value: bool) -> None:
    # One save() per row (not update()) so the configuration-changed signal reaches every process.
    changed = 0
    for obj in queryset.exclude(enabled=value):
        obj.enabled = value
        obj.save(update_fields=["enabled", "updated_at"])
        changed += 1
    verb = _("enabled") if value else _("disabled")
    modeladmin.message_user(request, _("%(count)d %(verb)s.") % {"count": changed, "verb": verb}, messages.SUCCESS)


@admin.action(description=_("Enable selected"), permissions=["change"])
def enable_selected(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _enable(modeladmin, request, queryset, True)


@admin.action(description=_("Disable selected"), permissions=["change"])
def disable_selected(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _enable(modeladmin, request, queryset, False)


# -- configuration -------------------------------------------------------------------------


class SubscriptionInline(admin.StackedInline):
    model = Subscription
    form = SubscriptionForm
    extra = 0
    autocomplete_fields = ("backends", "receiver_users", "receiver_groups")
    fields = (
        ("name", "enabled", "critical"),
        "backends",
        ("receiver_users", "receiver_groups"),
        ("dynamic_receivers", "other_receivers"),
        "fixed_addresses",
    )
    show_change_link = True


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    form = TriggerForm
    list_display = ("name", "verb", "action_object_type", "action_object_id", "target", "enabled", "updated_at")
    list_filter = ("enabled", "verb", "action_object_type")
    search_fields = ("name", "verb", "target")
    actions = (enable_selected, disable_selected)
    inlines = (SubscriptionInline,)
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "verb", "enabled"),
                "description": _(
                    "A trigger says when messages are sent: something happens (an object is saved, a user logs "
                    "in ...), optionally to one model or object, when its conditions hold. Its subscriptions, "
                    "below, say to whom and over which backends."
                ),
            },
        ),
        (_("Action object"), {"fields": (("action_object_type", "action_object_id"),)}),
        (_("Conditions"), {"fields": ("conditions",)}),
        (
            _("Actor and target (advanced)"),
            {"fields": (("actor_type", "actor_id"), "target"), "classes": ("collapse",)},
        ),
    )

    class Media:
        js = ("dsn_core/admin.js",)
        css = {"all": ("dsn_core/admin.css",)}


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = ("name", "engine", "subject", "updated_at")
    list_filter = ("engine",)
    search_fields = ("name", "subject", "text")
    change_form_template = "admin/dsn_core/messagetemplate/change_form.html"
    preview_template = "admin/dsn_core/messagetemplate/preview.html"

    class Media:
        js = ("dsn_core/admin.js",)
        css = {"all": ("dsn_core/admin.css",)}

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        groups = template_variables(kwargs.get("obj"))
        models = {
            "models": {
                pk: {"label": m["label"], "fields": [f["name"] for f in m["fields"] if not is_secret_name(f["name"])]}
                for pk, m in builder_data(offered_content_types()).get("models", {}).items()
            }
        }
        context.update(dsn_variables=groups, dsn_has_model=len(groups) > 1, dsn_models=models)
        return super().render_change_form(request, context, *args, **kwargs)

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/preview/", wrap(self.preview_view), name=f"{prefix}_preview"),
            path("<path:object_id>/send-test/", wrap(self.send_test_view), name=f"{prefix}_send_test"),
            *super().get_urls(),
        ]

    def _template_or_404(self, request: HttpRequest, object_id: str) -> MessageTemplate | HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:  # deleted meanwhile: back to the list, saying so
            self.message_user(
                request,
                _("There is no message template with id %(id)s any more.") % {"id": unquote(object_id)},
                messages.WARNING,
            )
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:dsn_core_messagetemplate_changelist"))
        return obj

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Render the template against a chosen event, for the requesting user (GET only)."""
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        obj = self._template_or_404(request, object_id)
        if isinstance(obj, HttpResponse):
            return obj
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        form = PreviewForm(
            request.GET if "verb" in request.GET else self._preview_defaults(obj, request.user), user=request.user
        )
        rendered = error = None
        notes: list[dict[str, Any]] = []
        chosen = request.GET.get("backend", "")
        if form.is_valid():
            try:
                rendered = render_for(obj, form.event(request.user), request.user)
            except TemplateError as exc:
                error = str(exc)
            else:
                notes = self._notes(request, obj, form, chosen)
        can_send = self.has_change_permission(request, obj)
        send_initial = {k: form.data.get(k) for k in PreviewForm.base_fields}
        if chosen.isdigit():
            send_initial["backend"] = chosen
        context = {
            **self.admin_site.each_context(request),
            "title": _("Preview of %(name)s") % {"name": obj},
            "opts": self.opts,
            "original": obj,
            "form": form,
            "send_form": SendTestForm(initial=send_initial, template=obj, user=request.user) if can_send else None,
            "object_note": form.cleaned_data.get("object_note") if form.is_valid() else "",
            "rendered": rendered,
            "error": error,
            "notes": notes,
            "can_send": can_send,
        }
        return TemplateResponse(request, self.preview_template, context)

    def _notes(
        self, request: HttpRequest, template: MessageTemplate, form: PreviewForm, chosen: str
    ) -> list[dict[str, Any]]:
        """The notes of this template's backends (and of ``chosen``, the last test send's), for a
        user who may view backends."""
        backend_admin = self.admin_site._registry.get(Backend)
        if backend_admin is None or not backend_admin.has_view_or_change_permission(request):
            return []
        backends = Backend.objects.filter(template=template)
        if chosen.isdigit():
            backends = backends | Backend.objects.filter(pk=chosen)
        return backend_notes(template, backends.order_by("name"), form.event(request.user), request.user)

    def _preview_defaults(self, template: MessageTemplate, user: Any) -> dict[str, Any]:
        """The first trigger using ``template``: its verb, and its model if ``user`` may view it."""
        trigger = Trigger.objects.filter(subscriptions__backends__template=template).order_by("pk").first()
        if trigger is None:
            return {"verb": "post_save"}
        ct = trigger.action_object_type
        return {"verb": trigger.verb, "content_type": ct.pk if ct is not None and may_view(user, ct) else ""}

    def send_test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Send the rendered template to the requesting user through a chosen backend (POST)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self._template_or_404(request, object_id)
        if isinstance(obj, HttpResponse):
            return obj
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        form = SendTestForm(request.POST, template=obj, user=request.user)
        preview_url = reverse(f"{self.admin_site.name}:dsn_core_messagetemplate_preview", args=[obj.pk])
        if not form.is_valid():
            problems = "; ".join(
                f"{form.fields[k].label if k in form.fields else k}: {' '.join(str(e) for e in v)}"
                for k, v in form.errors.items()
            )
            self.message_user(request, _("Nothing sent: %(problems)s") % {"problems": problems}, messages.ERROR)
            return HttpResponseRedirect(preview_url)
        backend: Backend = form.cleaned_data["backend"]
        query = {k: form.data.get(k, "") for k in ("verb", "content_type", "object_id", "target")}
        preview_url += "?" + urlencode({**query, "backend": backend.pk})  # the preview then shows its notes
        level, text = self._send_test(request, obj, backend, form)
        self.message_user(request, text, level)
        return HttpResponseRedirect(preview_url)

    def _send_test(
        self, request: HttpRequest, template: MessageTemplate, backend: Backend, form: SendTestForm
    ) -> tuple[int, str]:
        user = request.user
        if not isinstance(user, AbstractBaseUser):  # the admin lets only logged-in staff this far
            raise PermissionDenied
        cls = backend.messenger_class
        name = {"backend": backend.name, "messenger": messenger_label(backend.messenger)}
        if cls is None:
            return messages.ERROR, _("Nothing sent: %(messenger)s.") % name
        state = readiness(cls)
        if not state.ready:  # a configuration problem, said before anything about addresses
            return messages.ERROR, _(
                "Nothing sent: %(messenger)s is not configured (a problem in the site's settings, not with the "
                "message): %(problem)s %(hint)s"
            ) % {**name, "problem": state.problem, "hint": state.hint}
        try:
            messenger = cls(backend.options)
            address = messenger.address_for(user)
        except Exception as exc:  # bad options, missing settings (messages never hold the secret)
            return messages.ERROR, _("Nothing sent: %(messenger)s is not usable: %(error)s") % {
                **name,
                "error": redact(_exc_text(exc)),
            }
        if not address:
            return messages.WARNING, _(
                "Nothing sent: you have no address on %(messenger)s. Add one in the address book."
            ) % name
        try:
            subject, text, html = render_for(template, form.event(user), user, address=address, messenger=messenger)
        except TemplateError as exc:
            return messages.ERROR, _("Nothing sent: the template does not render: %(error)s") % {"error": exc}
        message = Message(
            address=address,
            subject=subject,
            text=text,
            html=html,
            recipient=user,
            metadata={"test": True, "template": template.pk},
        )
        sent, outcome = describe_outcome(send_by_hand(messenger, message))
        notes = " ".join(safe_notes(messenger, message))
        params = {**name, "address": address, "outcome": f"{outcome} — {notes}" if notes else outcome}
        if sent:
            return messages.SUCCESS, _("Test sent through %(backend)s to %(address)s: %(outcome)s.") % params
        return messages.ERROR, _("Test through %(backend)s to %(address)s failed: %(outcome)s.") % params


def safe_notes(messenger: Messenger, message: Message) -> list[str]:
    """``messenger.preview_notes(message)``; a plugin's exception there becomes a note, never a 500."""
    try:
        return [str(note) for note in messenger.preview_notes(message)]
    except Exception as exc:
        return [_("The channel could not describe this message (%(error)s).") % {"error": type(exc).__name__}]


def backend_notes(
    template: MessageTemplate, backends: Iterable[Backend], event: Any, user: Any
) -> list[dict[str, Any]]:
    """What each backend's messenger says about sending ``template`` rendered for ``user``
    (``Messenger.preview_notes``: SMS segments, X's weighted length ...), for the preview page.

    Each backend renders with its own messenger (escaping differs by channel); only backends
    with something to say are listed: ``[{"backend", "label", "notes"}]``.
    """
    rows: list[dict[str, Any]] = []
    for backend in backends:
        cls = backend.messenger_class
        if cls is None:
            continue
        try:
            messenger = cls(backend.options)
        except Exception:  # bad stored options: the backend's own page says what is wrong
            continue
        try:
            subject, text, html = render_for(template, event, user, messenger=messenger)
        except TemplateError:
            continue  # the preview above already shows the error
        notes = safe_notes(messenger, Message(address="", subject=subject, text=text, html=html, recipient=user))
        if notes:
            rows.append({"backend": backend, "label": messenger_label(backend.messenger), "notes": notes})
    return rows


def _exc_text(exc: Exception) -> str:
    from django.core.exceptions import ImproperlyConfigured, ValidationError

    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, (ImproperlyConfigured, DSNError)):
        return str(exc)  # conf.setting() names the key, never the value
    return type(exc).__name__


@admin.register(Backend)
class BackendAdmin(admin.ModelAdmin):
    form = BackendForm
    list_display = ("name", "messenger_display", "template", "updated_at")
    list_filter = ("messenger",)
    search_fields = ("name", "messenger", "template__name")
    list_select_related = ("template",)

    class Media:
        js = ("dsn_core/admin.js",)
        css = {"all": ("dsn_core/admin.css",)}

    @admin.display(description=_("channel"), ordering="messenger")
    def messenger_display(self, obj: Backend) -> str:
        return messenger_label(obj.messenger)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        # The option fields depend on the installed plugins: declare them on a fresh subclass so
        # the admin's fieldsets may name them.
        fields = optionforms.fields_for(registry().messengers)
        kwargs["form"] = type("BackendForm", (self.form,), dict(fields))
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> _FieldsetSpec:
        chosen = request.POST.get("messenger") or request.GET.get("messenger") or (obj.messenger if obj else "")
        messengers = registry().messengers
        if not chosen:
            chosen = next(iter(messenger_choices()), ("",))[0]
        fieldsets: list[tuple[Any, _FieldOpts]] = [
            (
                None,
                {
                    "fields": ("name", "messenger", "save_anyway", "template", "options", "typed_options"),
                    "description": _(
                        "A backend is one channel (email, Telegram, SMS ...) with the template it sends and "
                        "that channel's settings. Subscriptions pick backends to reach people."
                    ),
                },
            )
        ]
        for key, cls, names in optionforms.groups(messengers):
            if cls is None:
                fieldsets.append(
                    (
                        _("Retries (every channel; empty means the site's defaults)"),
                        {"fields": tuple(names), "classes": ("collapse",)},
                    )
                )
                continue
            classes = ["dsn-options", f"dsn-options-{optionforms.css_key(key)}"]
            if key != chosen:
                classes.append("hidden")
            state = readiness(cls)
            description = (
                ""
                if state.ready
                else format_html(
                    '<span class="dsn-not-ready">{}</span>',
                    _("Not configured: %(problem)s") % {"problem": state.problem},
                )
            )
            fieldsets.append(
                (
                    _("%(channel)s settings") % {"channel": cls.label},
                    {"fields": tuple(names), "classes": tuple(classes), "description": description},
                )
            )
        return fieldsets


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    inlines = (SubscriptionPolicyInline, FallbackStepInline)  # dsn_core.orchestration
    list_display = ("__str__", "trigger", "backend_list", "critical", "enabled")
    list_filter = ("enabled", "critical", "trigger", "backends")
    search_fields = ("name", "trigger__name")
    autocomplete_fields = ("trigger", "backends", "receiver_users", "receiver_groups")
    actions = (enable_selected, disable_selected)
    list_select_related = ("trigger",)
    fieldsets = (
        (
            None,
            {
                "fields": (("name", "enabled", "critical"), "trigger", "backends"),
                "description": _(
                    "A subscription says who gets a message when its trigger fires, and through which backends "
                    "(channel and template). A person who opted out of a channel or of this subscription is skipped, "
                    "unless it is critical."
                ),
            },
        ),
        (
            _("Who receives it"),
            {
                "fields": (
                    ("receiver_users", "receiver_groups"),
                    ("dynamic_receivers", "other_receivers"),
                    "fixed_addresses",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("backends")

    @admin.display(description=_("backends"))
    def backend_list(self, obj: Subscription) -> str:
        return ", ".join(b.name for b in obj.backends.all())


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    form = AddressForm
    list_display = ("user", "messenger_display", "address", "verified", "active", "updated_at")
    list_filter = ("messenger", "verified", "active")
    search_fields = (_user_search_field("user"), "address")
    autocomplete_fields = ("user",)
    fieldsets = (
        (
            None,
            {
                "fields": ("user", "messenger", "address", ("verified", "active")),
                "description": _(
                    "A person's address on one channel (a chat id, a phone number ...), for channels that do not "
                    "read it from the user's account. A channel that refuses an address clears 'active'."
                ),
            },
        ),
    )

    @admin.display(description=_("messenger"), ordering="messenger")
    def messenger_display(self, obj: Address) -> str:
        return messenger_label(obj.messenger)


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    form = OptOutForm
    list_display = ("user", "messenger", "subscription", "created_at")
    list_filter = ("messenger",)
    search_fields = (_user_search_field("user"), "messenger", "subscription__name")
    autocomplete_fields = ("user", "subscription")
    fieldsets = (
        (
            None,
            {
                "fields": ("user", "messenger", "subscription"),
                "description": _(
                    "A person who does not want some messages: of one channel, of one subscription, or both. "
                    "People make these themselves on their preferences page or through an unsubscribe link; "
                    "critical subscriptions ignore them."
                ),
            },
        ),
    )


# -- logs ----------------------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """A log: viewable by users with the view (or change) permission, never edited here."""

    # Logs grow large: a filtered list counts its matches only, not the whole table as well.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        opts = self.opts
        user = request.user
        return user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
            f"{opts.app_label}.change_{opts.model_name}"
        )


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "trigger_name",
        "verb",
        "action_object_type",
        "action_object_id",
        "created_at",
        "fanned_out_at",
        "delivery_count",
    )
    list_filter = ("verb", "trigger", "created_at")
    search_fields = ("trigger_name", "verb", "action_object_id")
    date_hierarchy = "created_at"
    exclude = ("context",)
    readonly_fields = ("context_display",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("action_object_type")
            .annotate(dsn_deliveries=Count("deliveries"))
        )

    @admin.display(description=_("deliveries"), ordering="dsn_deliveries")
    def delivery_count(self, obj: Notification) -> int:
        return obj.dsn_deliveries  # type: ignore[attr-defined]

    @admin.display(description=_("context snapshot"))
    def context_display(self, obj: Notification) -> str:
        text = json.dumps(mask_sensitive(obj.context), indent=2, ensure_ascii=False, sort_keys=True)
        return format_html("<pre>{}</pre>", text)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    # What an admin reads first; the notification, backend, provider id and receipt are on the detail page.
    list_display = ("id", "status", "short_error", "channel", "who", "attempts", "when")
    list_display_links = ("id", "status")
    list_filter = ("status", "receipt", "messenger", "notification__trigger", "backend")
    search_fields = ("address", "provider_id", "last_error", _user_search_field("recipient"))
    list_select_related = ("recipient",)
    actions = ("retry_now", "resend", "cancel")

    @admin.display(description=_("error"))
    def short_error(self, obj: Delivery) -> str:
        return obj.last_error if len(obj.last_error) <= 60 else obj.last_error[:59] + "…"

    @admin.display(description=_("channel"), ordering="messenger")
    def channel(self, obj: Delivery) -> str:
        return messenger_label(obj.messenger)

    @admin.display(description=_("recipient"), ordering="address")
    def who(self, obj: Delivery) -> str:
        if obj.recipient_id is not None and obj.recipient is not None:
            name = obj.recipient.get_username()
            return f"{name} ({obj.address})" if obj.address and obj.address != name and ":" not in obj.address else name
        return obj.address or "—"

    @admin.display(description=_("time"), ordering="updated_at")
    def when(self, obj: Delivery) -> str:
        if obj.sent_at:
            return _("sent %(t)s") % {"t": _local(obj.sent_at)}
        if obj.status == S.FAILED and obj.next_attempt_at:
            return _("retry at %(t)s") % {"t": _local(obj.next_attempt_at)}
        return _local(obj.updated_at)

    def get_urls(self) -> list[URLPattern]:
        return [
            path("overview/", self.admin_site.admin_view(self.overview_view), name="dsn_core_overview"),
            *super().get_urls(),
        ]

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        """One page with the queue's state (the ``dsn_status`` figures) and the last day's traffic."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        from .overview import overview

        context = {
            **self.admin_site.each_context(request),
            "title": _("DSN overview"),
            "opts": self.opts,
            **overview(),
        }
        return TemplateResponse(request, "admin/dsn_core/overview.html", context)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("dsn_core.change_delivery")

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("dsn_core.add_delivery")

    @admin.action(description=_("Retry now (failed, dead or pending)"), permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Put failed, dead and pending deliveries back in the queue, due now, with fresh attempts."""
        chosen = queryset.filter(status__in=RETRYABLE)
        ids = list(chosen.values_list("pk", flat=True))
        per_backend = Counter(chosen.exclude(backend=None).values_list("backend_id", flat=True))
        orphans = chosen.filter(backend=None).count()
        updated = Delivery.objects.filter(pk__in=ids, status__in=RETRYABLE).update(
            status=S.PENDING,
            next_attempt_at=None,
            attempts=0,
            lease_until=None,
            claim="",
            updated_at=timezone.now(),
        )
        transaction.on_commit(lambda: _enqueue(per_backend, None), robust=True)
        skipped = queryset.count() - len(ids)
        text = ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.", updated) % {
            "count": updated
        }
        if skipped:
            text += " " + _("%(count)d skipped (sending, sent or skipped: use resend for sent ones).") % {
                "count": skipped
            }
        if orphans:
            text += " " + _("%(count)d have no backend any more and will fail.") % {"count": orphans}
        self.message_user(request, text, messages.SUCCESS if updated else messages.WARNING)

    @admin.action(description=_("Cancel (pending or failed: never send them)"), permissions=["retry"])
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Stop deliveries that have not reached the provider: they become ``skipped``, saying who
        cancelled them. A conditional UPDATE, so a delivery a worker claims meanwhile is left alone."""
        ids = list(queryset.filter(status__in=CANCELLABLE).values_list("pk", flat=True))
        reason = _("cancelled in the admin by %(user)s") % {"user": request.user.get_username()}
        updated = Delivery.objects.filter(pk__in=ids, status__in=CANCELLABLE).update(
            status=S.SKIPPED,
            last_error=reason,
            next_attempt_at=None,
            updated_at=timezone.now(),
        )
        text = ngettext("%(count)d delivery cancelled.", "%(count)d deliveries cancelled.", updated) % {
            "count": updated
        }
        skipped = queryset.count() - updated
        if skipped:
            text += " " + _("%(count)d left alone (only pending or failed deliveries can be cancelled).") % {
                "count": skipped
            }
        self.message_user(request, text, messages.SUCCESS if updated else messages.WARNING)

    @admin.action(description=_("Resend as a new delivery (sent or dead)"), permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Send sent or dead deliveries again as new rows, keeping the originals as they are.

        Each new delivery belongs to the same notification and points at the one it repeats
        (``resend_of``); the uniqueness that keeps fan-out idempotent covers only fanned-out rows.
        """
        chosen = list(queryset.filter(status__in=RESENDABLE).exclude(backend=None))
        now = timezone.now()
        created = [
            Delivery(
                notification_id=old.notification_id,
                subscription_id=old.subscription_id,
                backend_id=old.backend_id,
                messenger=old.messenger,
                address=old.address,
                recipient_id=old.recipient_id,
                status=S.PENDING,
                created_at=now,
                resend_of=old,
            )
            for old in chosen
        ]
        # bulk_create sends no signals, like the outbox: DSN never reacts to its own rows.
        Delivery.objects.bulk_create(created)
        per_notification = Counter((d.backend_id, d.notification_id) for d in created)
        transaction.on_commit(lambda: _enqueue_each(per_notification), robust=True)
        skipped = queryset.count() - len(chosen)
        text = ngettext(
            "%(count)d delivery queued to be sent again.", "%(count)d deliveries queued to be sent again.", len(created)
        ) % {"count": len(created)}
        if skipped:
            text += " " + _("%(count)d skipped (only sent or dead deliveries with a backend can be resent).") % {
                "count": skipped
            }
        self.message_user(request, text, messages.SUCCESS if created else messages.WARNING)


def _local(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _enqueue(per_backend: Counter, notification_id: int | None) -> None:
    from .tasks import enqueue_send

    for backend_id, count in per_backend.items():
        enqueue_send(backend_id, notification_id, count)


def _enqueue_each(per_notification: Counter) -> None:
    from .tasks import enqueue_send

    for (backend_id, notification_id), count in per_notification.items():
        enqueue_send(backend_id, notification_id, count)
