"""Forms of DSN's admin, and the "preview" and "send one message by hand" helpers that the
admin and the ``dsn_render`` / ``dsn_test_send`` commands share.

Every dropdown of plugin-provided things (verbs, messengers, template engines) is filled
from the plugin registry when the form is built, so installing a plugin never needs a
migration. A stored value whose plugin is gone stays selectable, labelled
"<key> (not installed)", so opening and looking at the row loses nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import Case, Value, When
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from .conditions import ALL_OPS
from .errors import ConfigurationError, DeliveryError, TransientError
from .messengers import Message, Messenger, SendResult
from .models import Address, Backend, MessageTemplate, OptOut, Subscription, Trigger
from .plugins import engine_choices, get_messenger_class, messenger_choices, registry
from .receivers import Event, validate_dynamic_receivers
from .redaction import redact, secret_values  # noqa: F401  (re-exported for the admin)
from .verbs import verb_choices

logger = logging.getLogger("dsn_core.admin")

NOT_INSTALLED = _("%(key)s (not installed)")
NOT_REGISTERED = _("%(key)s (not registered)")


# -- choices -------------------------------------------------------------------------------


def with_current(
    choices: Sequence[tuple[str, str]], current: str | None, missing_label: Any, *, blank: bool = False
) -> list[tuple[str, str]]:
    """``choices`` plus the stored value ``current`` when no plugin provides it any more."""
    out = [("", "---------")] if blank else []
    out.extend(choices)
    if current and current not in {key for key, _label in choices}:
        out.append((current, str(missing_label % {"key": current})))
    return out


def messenger_label(key: str) -> str:
    """The messenger's label, or "<key> (not installed)"."""
    cls = get_messenger_class(key)
    return str(cls.label) if cls else str(NOT_INSTALLED % {"key": key})


def options_help(keys: Iterable[str]) -> SafeString:
    """HTML describing the options of the given messengers (from their ``Option`` help)."""
    blocks = []
    for key in keys:
        cls = get_messenger_class(key)
        if cls is None:
            continue
        if not cls.options:
            items = format_html("<li>{}</li>", _("no options"))
        else:
            items = format_html_join("", "<li><code>{}</code>{}: {}</li>", (_option_row(o) for o in cls.options))
        blocks.append(format_html("<p><strong>{}</strong> (<code>{}</code>)</p><ul>{}</ul>", cls.label, key, items))
    return format_html_join("", "{}", ((b,) for b in blocks))


def _option_row(option: Any) -> tuple[str, str, str]:
    notes = []
    if option.required:
        notes.append("required")
    if option.type is not str:
        notes.append(option.type.__name__)
    if option.default is not None:
        notes.append(f"default {json.dumps(option.default)}")
    if option.choices:
        notes.append("one of " + ", ".join(json.dumps(c) for c in option.choices))
    return option.name, f" ({'; '.join(notes)})" if notes else "", option.help or ""


# -- JSON editing --------------------------------------------------------------------------


class JSONEditorField(forms.JSONField):
    """A JSON textarea that is indented for reading and reports syntax errors with their line."""

    widget = forms.Textarea(attrs={"rows": 6, "cols": 80, "class": "vLargeTextField", "spellcheck": "false"})

    def to_python(self, value: Any) -> Any:
        if self.disabled or isinstance(value, (list, dict, int, float, forms.fields.JSONString)):
            return super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            json.loads(value, cls=self.decoder)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                _("Invalid JSON at line %(line)s, column %(col)s: %(msg)s."),
                code="invalid",
                params={"line": exc.lineno, "col": exc.colno, "msg": exc.msg},
            ) from exc
        return super().to_python(value)

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, cls=self.encoder, indent=2)


CONDITIONS_HELP = format_html(
    "{}<br>{}: <code>{}</code>",
    _('Every condition must hold. Example: [{"field": "status", "op": "changed_from_to", "from": "draft", '
      '"to": "paid"}]'),
    _("Operators"),
    ", ".join(sorted(ALL_OPS)),
)


# -- model forms ---------------------------------------------------------------------------


class TriggerForm(forms.ModelForm):
    """A trigger with the verb chosen from the registered signals."""

    verb = forms.ChoiceField(label=_("verb"), help_text=_("The signal that fires this trigger."))

    class Meta:
        model = Trigger
        fields = "__all__"
        field_classes = {"conditions": JSONEditorField}
        help_texts = {"conditions": CONDITIONS_HELP}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["verb"].choices = with_current(verb_choices(), self.instance.verb, NOT_REGISTERED, blank=True)
        self.fields["action_object_type"].queryset = ContentType.objects.order_by("app_label", "model")
        self.fields["actor_type"].queryset = ContentType.objects.order_by("app_label", "model")


class MessageTemplateForm(forms.ModelForm):
    """A message template with the engine chosen from the installed template engines."""

    engine = forms.ChoiceField(label=_("template engine"))

    class Meta:
        model = MessageTemplate
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["engine"]
        field.choices = with_current(engine_choices(), self.instance.engine, NOT_INSTALLED)
        if not self.instance.pk:
            field.initial = "django"


class MessengerChoiceMixin:
    """Fills the ``messenger`` field from the installed messengers at request time."""

    messenger_blank = False

    def _set_messenger_choices(self) -> None:
        field = self.fields["messenger"]  # type: ignore[attr-defined]
        current = getattr(self.instance, "messenger", "")  # type: ignore[attr-defined]
        field.choices = with_current(messenger_choices(), current, NOT_INSTALLED, blank=self.messenger_blank)


class BackendForm(MessengerChoiceMixin, forms.ModelForm):
    """A backend: messenger dropdown, template, and the options as JSON with their help."""

    messenger = forms.ChoiceField(label=_("messenger"))

    class Meta:
        model = Backend
        fields = "__all__"
        field_classes = {"options": JSONEditorField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_messenger_choices()
        current = self.instance.messenger
        keys = [current] if current and get_messenger_class(current) else [k for k, _label in messenger_choices()]
        self.fields["options"].help_text = format_html(
            "{}{}", _("A JSON object. Secrets never go here: they come from settings."), options_help(keys)
        )


class SubscriptionForm(forms.ModelForm):
    """A subscription with JSON editors for its dynamic receivers and fixed addresses."""

    class Meta:
        model = Subscription
        fields = "__all__"
        field_classes = {"dynamic_receivers": JSONEditorField, "fixed_addresses": JSONEditorField}
        widgets = {
            "dynamic_receivers": forms.Textarea(attrs={"rows": 3, "cols": 60}),
            "fixed_addresses": forms.Textarea(attrs={"rows": 3, "cols": 60}),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # Inline on a trigger's add page the trigger is not saved yet, and Subscription.clean()
        # only looks at saved triggers: check the receivers against the unsaved one here.
        trigger = data.get("trigger")
        if isinstance(trigger, Trigger) and trigger.pk is None and data.get("dynamic_receivers"):
            try:
                validate_dynamic_receivers(data["dynamic_receivers"], trigger)
            except ValidationError as exc:
                self.add_error("dynamic_receivers", exc)
        return data


class AddressForm(MessengerChoiceMixin, forms.ModelForm):
    """An address-book entry with the messenger from a dropdown."""

    messenger = forms.ChoiceField(label=_("messenger"))

    class Meta:
        model = Address
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_messenger_choices()


class OptOutForm(MessengerChoiceMixin, forms.ModelForm):
    """An opt-out; an empty messenger means every messenger."""

    messenger = forms.ChoiceField(label=_("messenger"), required=False,
                                  help_text=_("Empty: every messenger (of the subscription, if one is chosen)."))
    messenger_blank = True

    class Meta:
        model = OptOut
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_messenger_choices()


# -- preview and test sends ----------------------------------------------------------------


class PreviewForm(forms.Form):
    """Which event to render a template against: a verb and, optionally, one object."""

    verb = forms.ChoiceField(label=_("verb"), initial="post_save")
    content_type = forms.ModelChoiceField(
        ContentType.objects.order_by("app_label", "model"), label=_("object model"), required=False
    )
    object_id = forms.CharField(label=_("object id"), required=False, max_length=64)
    target = forms.CharField(label=_("target"), required=False, max_length=255)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["verb"].choices = verb_choices()
        self.fields["content_type"].queryset = ContentType.objects.order_by("app_label", "model")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        ct, object_id = data.get("content_type"), (data.get("object_id") or "").strip()
        data["object"] = None
        if object_id and ct is None:
            self.add_error("content_type", _("Choose a model for this object id."))
        elif object_id and ct is not None:
            try:
                data["object"] = find_object(ct.model_class(), object_id)
            except ValidationError as exc:
                self.add_error("object_id", exc)
        return data

    def event(self, actor: Any) -> Event:
        """The event to render against (valid form only): the chosen object, ``actor`` as actor."""
        data = self.cleaned_data
        return Event(verb=data["verb"], action_object=data.get("object"), actor=actor,
                     target=data.get("target") or None)


class SendTestForm(PreviewForm):
    """A preview plus the backend whose messenger sends the test."""

    backend = forms.ModelChoiceField(Backend.objects.all(), label=_("backend"))

    def __init__(self, *args: Any, template: MessageTemplate | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        queryset = Backend.objects.order_by("name")
        if template is not None:  # this template's backends first, then the others
            mine = Case(When(template_id=template.pk, then=Value(0)), default=Value(1))
            queryset = Backend.objects.annotate(dsn_mine=mine).order_by("dsn_mine", "name")
        self.fields["backend"].queryset = queryset
        self.fields["backend"].label_from_instance = lambda b: f"{b.name} — {messenger_label(b.messenger)}"


def find_object(model: type | None, pk: str) -> Any:
    """``model``'s row with primary key ``pk``; ``ValidationError`` saying what is missing."""
    if model is None:
        raise ValidationError(_("This model is no longer installed."))
    try:
        return model._default_manager.get(pk=pk)
    except (model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise ValidationError(
            _("No %(model)s with id %(id)s."), params={"model": model._meta.verbose_name, "id": pk}
        ) from None


def render_for(template: MessageTemplate, event: Event, user: Any, *, address: str = "",
               messenger: Messenger | None = None) -> tuple[str, str, str]:
    """Render ``template`` for ``user`` as the pipeline would; ``TemplateError`` if it fails."""
    from .rendering import base_context, compiled, current_site, render

    context = base_context(event, None, current_site())
    context.update(recipient=user, address=address, unsubscribe_url="")
    escape = messenger.escape if messenger is not None and messenger.escape_values else None
    return render(compiled(template), context, escape)


def send_by_hand(messenger: Messenger, message: Message) -> SendResult | DeliveryError:
    """Send one message now, outside the pipeline; return its outcome, never raise.

    An unexpected exception becomes a :class:`TransientError` naming its type, with any
    configured secret redacted from its text.
    """
    try:
        with messenger:
            outcomes = messenger.send_batch([message])
    except DeliveryError as exc:
        return exc
    except Exception as exc:
        from .sending import open_error

        if isinstance(error := open_error(messenger.key, exc), ConfigurationError):  # a settings problem
            return ConfigurationError(redact(str(error)))
        logger.warning("DSN test send through %s failed: %s", messenger.key, type(exc).__name__)
        return TransientError(redact(f"{type(exc).__name__}: {exc}"))
    if len(outcomes) != 1:
        return TransientError(f"{messenger.key} returned {len(outcomes)} outcomes for one message")
    return outcomes[0]


def describe_outcome(outcome: SendResult | DeliveryError) -> tuple[bool, str]:
    """``(sent, human text)`` for one outcome."""
    if isinstance(outcome, SendResult):
        text = "accepted"
        if outcome.provider_id:
            text += f" (provider id {outcome.provider_id})"
        if outcome.new_address:
            text += f"; the address is now {outcome.new_address}"
        return True, text
    if isinstance(outcome, DeliveryError):
        kind = "temporary failure" if outcome.retryable else "permanent failure"
        if isinstance(outcome, ConfigurationError):  # a missing token is not "temporary"
            kind = "configuration error"
        text = f"{kind}: {redact(str(outcome))}"
        if outcome.retry_after:
            text += f" (retry after {outcome.retry_after:g}s)"
        return False, text
    return False, f"unexpected outcome {outcome!r}"


def plugin_owner(kind: str, key: str) -> str:
    """The distribution that registered ``key`` of ``kind`` (``"messengers"`` ...)."""
    return registry().owners.get((kind, key), "?")
