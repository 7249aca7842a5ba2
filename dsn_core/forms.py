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
from collections.abc import Sequence
from typing import Any, TypeVar

from django import forms
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Case, Model, Value, When
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from . import optionforms
from .conditionforms import ConditionsWidget, offered_content_types
from .errors import ConfigurationError, DeliveryError, TransientError
from .messengers import Message, Messenger, SendResult
from .models import Address, Backend, MessageTemplate, OptOut, Subscription, Trigger
from .plugins import engine_choices, get_messenger_class, messenger_choices, registry
from .readiness import choice_label, readiness
from .receivers import Event, validate_dynamic_receivers
from .recipientforms import FixedAddressesField, ReceiverCheckboxes, flat_values, group_label, receiver_choices
from .redaction import redact, secret_values  # noqa: F401  (re-exported for the admin)
from .verbs import verb_choices

logger = logging.getLogger("dsn_core.admin")


F = TypeVar("F", bound=forms.Field)


def field_of(form: forms.BaseForm, name: str, kind: type[F]) -> F:
    """``form.fields[name]``, known to be a ``kind`` (``TypeError`` if a subclass replaced it)."""
    field = form.fields[name]
    if not isinstance(field, kind):
        raise TypeError(f"{type(form).__name__}.{name} is a {type(field).__name__}, not a {kind.__name__}")
    return field


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


CONDITIONS_HELP = _("Every condition must hold. Build them with the rows above; the JSON is what is stored.")


class TriggerForm(forms.ModelForm):
    """A trigger with the verb chosen from the registered signals, the models an admin means
    (internal tables hidden), and conditions built in rows (see :mod:`dsn_core.conditionforms`)."""

    verb = forms.ChoiceField(label=_("When"), help_text=_("What happens that sends messages."))

    class Meta:
        model = Trigger
        fields = "__all__"
        field_classes = {"conditions": JSONEditorField}
        widgets = {"conditions": ConditionsWidget}
        help_texts = {"conditions": CONDITIONS_HELP}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field_of(self, "verb", forms.ChoiceField).choices = with_current(
            verb_choices(), self.instance.verb, NOT_REGISTERED, blank=True
        )
        action_types = offered_content_types(self.instance.action_object_type_id)
        field_of(self, "action_object_type", forms.ModelChoiceField).queryset = action_types
        field_of(self, "actor_type", forms.ModelChoiceField).queryset = offered_content_types(
            self.instance.actor_type_id
        )
        self.fields["conditions"].widget.content_types = action_types


class MessageTemplateForm(forms.ModelForm):
    """A message template with the engine chosen from the installed template engines."""

    engine = forms.ChoiceField(label=_("Template engine"))

    class Meta:
        model = MessageTemplate
        fields = "__all__"
        widgets = {"subject": forms.TextInput(attrs={"class": "vLargeTextField", "size": 80})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = field_of(self, "engine", forms.ChoiceField)
        field.choices = with_current(engine_choices(), self.instance.engine, NOT_INSTALLED)
        if not self.instance.pk:
            field.initial = "django"


class ReadinessSelect(forms.Select):
    """A channel dropdown whose options carry ``data-ready="no"`` for channels not configured."""

    not_ready: frozenset[str] = frozenset()

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        if value in self.not_ready:
            option["attrs"]["data-ready"] = "no"
        return option


class MessengerChoiceMixin:
    """Fills the ``messenger`` field from the installed messengers at request time, each marked
    when its configuration check fails ("Telegram — not configured: ...")."""

    messenger_blank = False

    def _set_messenger_choices(self) -> None:
        field = self.fields["messenger"]  # type: ignore[attr-defined]
        current = getattr(self.instance, "messenger", "")  # type: ignore[attr-defined]
        field.choices = with_current(messenger_choices_marked(), current, NOT_INSTALLED, blank=self.messenger_blank)
        messengers = registry().messengers
        widget = ReadinessSelect(choices=field.choices)
        widget.not_ready = frozenset(k for k, cls in messengers.items() if not readiness(cls).ready)
        field.widget = widget


def messenger_choices_marked() -> list[tuple[str, str]]:
    """``(key, label)`` of the installed messengers, the label saying when one is not configured."""
    messengers = registry().messengers
    return [(key, choice_label(messengers[key])) for key, _label in messenger_choices()]


#: The submit button that re-renders the backend form for another channel (JavaScript off).
REFRESH = "_dsn_refresh"


class BackendForm(MessengerChoiceMixin, forms.ModelForm):
    """A backend: a channel, a template, and the channel's options as typed fields.

    Each installed messenger's declared ``Option``s become fields (see
    :mod:`dsn_core.optionforms`); only the chosen messenger's are read and stored. A form
    posted without the typed fields (``typed_options`` absent) still takes ``options`` as
    JSON. A channel whose configuration check fails is refused unless ``save_anyway`` is
    ticked (a staging site preparing its configuration before the secrets arrive).
    """

    messenger = forms.ChoiceField(label=_("Channel"))
    options = JSONEditorField(required=False, widget=forms.HiddenInput)
    typed_options = forms.CharField(required=False, initial="1", widget=forms.HiddenInput)
    save_anyway = forms.BooleanField(
        label=_("Save even if the channel is not configured"),
        required=False,
        help_text=_(
            "For a staging site preparing its configuration: nothing is sent until the channel's "
            "settings are fixed, and its deliveries fail meanwhile."
        ),
    )

    class Meta:
        model = Backend
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_messenger_choices()
        self.fields["messenger"].help_text = format_html(
            '{} <noscript><button type="submit" name="{}" value="1">{}</button></noscript>',
            _("Which way messages go out. Its settings appear below."),
            REFRESH,
            _("Show this channel's settings"),
        )
        messengers = registry().messengers
        for name, field in optionforms.fields_for(messengers).items():
            self.fields.setdefault(name, field)
        stored = self.instance.options if isinstance(self.instance.options, dict) else {}
        for key, cls in messengers.items():
            for name, value in optionforms.initial_for(cls, stored if key == self.instance.messenger else {}).items():
                self.initial.setdefault(name, value)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        key = data.get("messenger") or ""
        cls = get_messenger_class(key) if key else None
        if self.data.get(REFRESH):
            label = cls.label if cls else key
            raise ValidationError(
                _("Showing the settings of %(channel)s. Nothing was saved: fill them in, then save."),
                params={"channel": label},
                code="refresh",
            )
        if cls is None:
            return data
        options: Any
        if data.get("typed_options"):
            options, missing = optionforms.collect(cls, data)
            for name, message in missing.items():
                self.add_error(name, message)
            if missing:
                return data
        else:
            options = data.get("options")
            if options in (None, ""):
                options = {}
            if not isinstance(options, dict):
                self.add_error(None, _("Options must be a JSON object."))
                return data
        try:
            data["options"] = cls.clean_options(dict(options))
        except ValidationError as exc:
            for message in exc.messages:
                self.add_error(None, message)
        state = readiness(cls)
        if not state.ready and not data.get("save_anyway"):
            self.add_error(
                "messenger",
                ValidationError(
                    _(
                        "%(channel)s is not configured: %(problem)s %(hint)s Fix the settings, choose another channel, "
                        'or tick "save even if the channel is not configured".'
                    ),
                    params={"channel": cls.label, "problem": state.problem, "hint": state.hint},
                    code="not_ready",
                ),
            )
            data["messenger"] = key  # keep it on the instance: the model's clean() must not add "not installed"
        return data


class SubscriptionForm(forms.ModelForm):
    """A subscription: who receives (users, groups, people found on the event, fixed addresses)
    through which backends, with no JSON to type (see :mod:`dsn_core.recipientforms`)."""

    dynamic_receivers = forms.MultipleChoiceField(
        label=_("People found on the event"),
        required=False,
        widget=ReceiverCheckboxes,
        help_text=_("Found again for each event: the object's owner, whoever did it ..."),
    )
    other_receivers = forms.CharField(
        label=_("Other paths"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        help_text=_("Advanced: one path per line, e.g. instance.team.members."),
    )
    fixed_addresses = FixedAddressesField(
        label=_("Fixed addresses"),
        required=False,
        help_text=_(
            "Each address is checked by its channel (an email address, a phone number in +E.164 form, "
            "a Telegram chat id or @channel)."
        ),
    )

    class Meta:
        model = Subscription
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        trigger = self.instance.trigger if _has_trigger(self.instance) else None
        model = None
        if trigger is not None and trigger.action_object_type_id:
            model = trigger.action_object_type.model_class()
        offered_types = [ct for ct in offered_content_types() if ct.model_class() is not None]
        choices = receiver_choices(model, [ct.model_class() for ct in offered_types])
        stored = [e for e in (self.instance.dynamic_receivers or []) if isinstance(e, str)]
        known = flat_values(choices)
        field = field_of(self, "dynamic_receivers", forms.MultipleChoiceField)
        field.choices = choices
        # On a trigger's page the script shows only the group of the model chosen there.
        field.widget.group_models = {group_label(ct.model_class()): ct.pk for ct in offered_types}
        if not self.is_bound:
            self.initial["dynamic_receivers"] = [e for e in stored if e in known]
            self.initial["other_receivers"] = "\n".join(e for e in stored if e not in known)
        self.fields["fixed_addresses"].initial = self.instance.fixed_addresses or {}

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        other = [line.strip() for line in (data.get("other_receivers") or "").splitlines() if line.strip()]
        receivers = list(data.get("dynamic_receivers") or []) + [
            e for e in other if e not in (data.get("dynamic_receivers") or [])
        ]
        data["dynamic_receivers"] = receivers
        # Inline on a trigger's add page the trigger is not saved yet, and Subscription.clean()
        # only looks at saved triggers: check the receivers against the unsaved one here.
        trigger = data.get("trigger")
        if isinstance(trigger, Trigger) and trigger.pk is None and receivers:
            try:
                validate_dynamic_receivers(receivers, trigger)
            except ValidationError as exc:
                self.add_error("dynamic_receivers", exc)
        return data


def _has_trigger(instance: Any) -> bool:
    try:
        return instance.trigger is not None
    except Exception:  # RelatedObjectDoesNotExist on an unbound inline form
        return False


class AddressForm(MessengerChoiceMixin, forms.ModelForm):
    """An address-book entry with the messenger from a dropdown."""

    messenger = forms.ChoiceField(label=_("Messenger"))

    class Meta:
        model = Address
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_messenger_choices()


class OptOutForm(MessengerChoiceMixin, forms.ModelForm):
    """An opt-out; an empty messenger means every messenger."""

    messenger = forms.ChoiceField(
        label=_("Messenger"),
        required=False,
        help_text=_("Empty: every messenger (of the subscription, if one is chosen)."),
    )
    messenger_blank = True

    class Meta:
        model = OptOut
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_messenger_choices()


# -- preview and test sends ----------------------------------------------------------------


def viewable_content_types(user: Any) -> list[int]:
    """Primary keys of the offered content types whose model ``user`` may view (or change)."""
    allowed = []
    for ct in offered_content_types():
        if may_view(user, ct):
            allowed.append(ct.pk)
    return allowed


def may_view(user: Any, ct: ContentType) -> bool:
    """Whether ``user`` has the view or change permission on ``ct``'s model."""
    return bool(
        user is not None
        and (user.has_perm(f"{ct.app_label}.view_{ct.model}") or user.has_perm(f"{ct.app_label}.change_{ct.model}"))
    )


class PreviewForm(forms.Form):
    """Which event to render a template against: a verb and, optionally, one object.

    Only models the requesting ``user`` may view are offered and accepted; with a model and
    no id, the most recent object is used. ``cleaned_data["object_note"]`` says which object
    was used, or that there is none.
    """

    verb = forms.ChoiceField(label=_("Event"), initial="post_save")
    content_type = forms.ModelChoiceField(
        ContentType.objects.none(),
        label=_("Object model"),
        required=False,
        help_text=_("Only models you may view. Without an id, the most recent object is used."),
    )
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=64)
    target = forms.CharField(label=_("Target"), required=False, max_length=255)

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        field_of(self, "verb", forms.ChoiceField).choices = verb_choices()
        allowed = viewable_content_types(user)
        field_of(self, "content_type", forms.ModelChoiceField).queryset = ContentType.objects.filter(
            pk__in=allowed
        ).order_by("app_label", "model")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        ct, object_id = data.get("content_type"), (data.get("object_id") or "").strip()
        data["object"] = None
        data["object_note"] = ""
        if object_id and ct is None:
            self.add_error("content_type", _("Choose a model for this object id."))
            return data
        if ct is None:
            return data
        if not may_view(self.user, ct):  # the queryset already refuses it; never load a row regardless
            self.add_error("content_type", _("You may not view this model."))
            return data
        model = ct.model_class()
        if object_id:
            try:
                found = find_object(model, object_id)
            except ValidationError as exc:
                self.add_error("object_id", exc)
                return data
            data["object"] = found
            data["object_note"] = _("Rendered with %(model)s %(object)s (id %(id)s).") % {
                "model": found._meta.verbose_name,
                "object": found,
                "id": found.pk,
            }
            return data
        latest = model._default_manager.order_by("-pk").first() if model is not None else None
        if latest is None:
            data["object_note"] = _("There is no %(model)s yet, so the values from the object render empty.") % {
                "model": model._meta.verbose_name if model else ct
            }
        else:
            data["object"] = latest
            data["object_note"] = _("Rendered with the most recent %(model)s: %(object)s (id %(id)s).") % {
                "model": latest._meta.verbose_name,
                "object": latest,
                "id": latest.pk,
            }
        return data

    def event(self, actor: Any) -> Event:
        """The event to render against (valid form only): the chosen object, ``actor`` as actor."""
        data = self.cleaned_data
        return Event(
            verb=data["verb"], action_object=data.get("object"), actor=actor, target=data.get("target") or None
        )


class BackendChoiceField(forms.ModelChoiceField):
    """A backend, shown with the channel it sends on."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} — {messenger_label(obj.messenger)}"


class SendTestForm(PreviewForm):
    """A preview plus the backend whose messenger sends the test."""

    backend = BackendChoiceField(Backend.objects.all(), label=_("Backend"))

    def __init__(self, *args: Any, template: MessageTemplate | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        queryset = Backend.objects.order_by("name")
        if template is not None:  # this template's backends first, then the others
            mine = Case(When(template_id=template.pk, then=Value(0)), default=Value(1))
            queryset = Backend.objects.annotate(dsn_mine=mine).order_by("dsn_mine", "name")
        field_of(self, "backend", forms.ModelChoiceField).queryset = queryset


def find_object(model: type[Model] | None, pk: str) -> Any:
    """``model``'s row with primary key ``pk``; ``ValidationError`` saying what is missing."""
    if model is None:
        raise ValidationError(_("This model is no longer installed."))
    try:
        return model._default_manager.get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError, ValidationError):
        raise ValidationError(
            _("No %(model)s with id %(id)s."), params={"model": model._meta.verbose_name, "id": pk}
        ) from None


def render_for(
    template: MessageTemplate, event: Event, user: Any, *, address: str = "", messenger: Messenger | None = None
) -> tuple[str, str, str]:
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
