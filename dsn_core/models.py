"""DSN's models: configuration (Trigger, MessageTemplate, Backend, Subscription), the
per-user address book and preferences, and the logs (Notification, Delivery).

Messenger and engine keys are plain CharFields: the choices come from the installed
plugins at request time, so installing a plugin never needs a migration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from .messengers import Messenger


class ConfigState(models.Model):
    """A single row whose ``version`` grows on every configuration edit.

    Every process polls it to know when to rebuild its trigger index.
    """

    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("configuration state")

    @classmethod
    def current(cls) -> int:
        row = cls.objects.filter(pk=1).values_list("version", flat=True).first()
        return row or 0

    @classmethod
    def bump(cls) -> None:
        if not cls.objects.filter(pk=1).update(version=F("version") + 1):
            cls.objects.get_or_create(pk=1, defaults={"version": 1})


class Trigger(models.Model):
    """When: a verb, optionally narrowed to a model or instance, an actor, a target and conditions."""

    name = models.CharField(_("name"), max_length=150)
    verb = models.CharField(_("verb"), max_length=100, help_text=_("The signal that fires this trigger."))
    action_object_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("action object model"),
        help_text=_("The model sending the signal (the saved instance's model). Empty: any."),
    )
    action_object_id = models.CharField(
        _("action object id"), max_length=64, blank=True, help_text=_("Only this instance. Empty: any instance.")
    )
    actor_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor model"),
        help_text=_("Matched against the signal's actor_object or actor argument. Empty: any."),
    )
    actor_id = models.CharField(_("actor id"), max_length=64, blank=True)
    target = models.CharField(
        _("target"),
        max_length=255,
        blank=True,
        help_text=_("Matched against the signal's target argument. Empty: any."),
    )
    conditions = models.JSONField(
        _("conditions"),
        default=list,
        blank=True,
        help_text=_('A list like [{"field": "status", "op": "eq", "value": "paid"}]. See the docs for operators.'),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("trigger")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from .conditions import validate_conditions
        from .verbs import get_verb

        errors: dict[str, Any] = {}
        if self.verb and get_verb(self.verb) is None:
            errors["verb"] = _("No signal is registered as %(verb)s.") % {"verb": self.verb}
        for kind in ("action_object", "actor"):
            ct = getattr(self, f"{kind}_type")
            obj_id = getattr(self, f"{kind}_id")
            if obj_id and ct is None:
                errors[f"{kind}_id"] = _("Choose a model before giving an object id.")
            elif obj_id and ct is not None:
                model = ct.model_class()
                if model is None:
                    errors[f"{kind}_type"] = _("This model is no longer installed.")
                else:
                    try:
                        found = model._default_manager.filter(pk=obj_id).exists()
                    except (ValueError, ValidationError, TypeError):
                        found = False
                    if not found:
                        errors[f"{kind}_id"] = _("No %(model)s with id %(id)s.") % {
                            "model": model._meta.verbose_name,
                            "id": obj_id,
                        }
        content_type = self.action_object_type if self.action_object_type_id else None
        model = content_type.model_class() if content_type is not None else None
        try:
            self.conditions = validate_conditions(self.conditions, model, self.verb)
        except ValidationError as exc:
            errors["conditions"] = exc.messages
        if errors:
            raise ValidationError(errors)


class MessageTemplate(models.Model):
    """What: a subject, a text body and an optional HTML body in a template engine."""

    name = models.CharField(_("name"), max_length=150)
    engine = models.CharField(_("template engine"), max_length=50, default="django")
    subject = models.TextField(_("subject"), blank=True)
    text = models.TextField(_("text body"))
    html = models.TextField(_("HTML body"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("message template")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from .rendering import compile_template_fields

        compile_template_fields(self)


class Backend(models.Model):
    """Which channel: a messenger, a template, and the messenger's options."""

    name = models.CharField(_("name"), max_length=150)
    messenger = models.CharField(_("messenger"), max_length=100)
    template = models.ForeignKey(
        MessageTemplate, on_delete=models.PROTECT, related_name="backends", verbose_name=_("template")
    )
    options = models.JSONField(_("messenger options"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("backend")

    def __str__(self) -> str:
        return self.name

    @property
    def messenger_class(self) -> type[Messenger] | None:
        from .plugins import get_messenger_class

        return get_messenger_class(self.messenger)

    def messenger_label(self) -> str:
        cls = self.messenger_class
        return cls.label if cls else f"{self.messenger} (not installed)"

    def clean(self) -> None:
        cls = self.messenger_class
        if cls is None:
            raise ValidationError({"messenger": _("Messenger %(key)s is not installed.") % {"key": self.messenger}})
        if not isinstance(self.options, dict):
            raise ValidationError({"options": _("Options must be a JSON object.")})
        try:
            self.options = cls.clean_options(dict(self.options))
        except ValidationError as exc:
            raise ValidationError({"options": exc.messages}) from exc


class Subscription(models.Model):
    """Whom: a trigger, the backends to send through, and the receivers."""

    name = models.CharField(_("name"), max_length=150, blank=True)
    trigger = models.ForeignKey(
        Trigger, on_delete=models.CASCADE, related_name="subscriptions", verbose_name=_("trigger")
    )
    backends = models.ManyToManyField(Backend, related_name="subscriptions", verbose_name=_("backends"))
    receiver_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="dsn_subscriptions", verbose_name=_("receiver users")
    )
    receiver_groups = models.ManyToManyField(
        Group, blank=True, related_name="dsn_subscriptions", verbose_name=_("receiver groups")
    )
    dynamic_receivers = models.JSONField(
        _("dynamic receivers"),
        default=list,
        blank=True,
        help_text=_(
            'Paths on the event, e.g. ["instance.owner", "instance.team.members", "actor"], or "@name" resolvers.'
        ),
    )
    fixed_addresses = models.JSONField(
        _("fixed addresses"),
        default=dict,
        blank=True,
        help_text=_('Addresses without a user, by messenger: {"telegram": ["-100123"], "email": ["ops@example.com"]}.'),
    )
    critical = models.BooleanField(
        _("critical"), default=False, help_text=_("Opt-outs do not apply (security alerts, receipts).")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["trigger__name", "pk"]
        verbose_name = _("subscription")

    def __str__(self) -> str:
        return self.name or f"{self.trigger} #{self.pk}"

    def clean(self) -> None:
        from .receivers import validate_dynamic_receivers, validate_fixed_addresses

        errors: dict[str, Any] = {}
        trigger = self.trigger if self.trigger_id else None
        try:
            self.dynamic_receivers = validate_dynamic_receivers(self.dynamic_receivers, trigger)
        except ValidationError as exc:
            errors["dynamic_receivers"] = exc.messages
        try:
            self.fixed_addresses = validate_fixed_addresses(self.fixed_addresses)
        except ValidationError as exc:
            errors["fixed_addresses"] = exc.messages
        if errors:
            raise ValidationError(errors)


class Address(models.Model):
    """The address book: a user's address on one messenger (chat id, phone number ...)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dsn_addresses", verbose_name=_("user")
    )
    messenger = models.CharField(_("messenger"), max_length=100)
    address = models.CharField(_("address"), max_length=255)
    verified = models.BooleanField(_("verified"), default=False)
    active = models.BooleanField(_("active"), default=True, help_text=_("Cleared when the channel refuses it."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("address book")
        constraints = [models.UniqueConstraint(fields=["user", "messenger"], name="dsn_address_user_messenger")]
        indexes = [models.Index(fields=["messenger", "address"], name="dsn_address_lookup")]

    def __str__(self) -> str:
        return f"{self.user} on {self.messenger}: {self.address}"


class OptOut(models.Model):
    """A user's opt-out: of a messenger (``messenger`` set), a subscription, or both."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dsn_opt_outs")
    messenger = models.CharField(max_length=100, blank=True)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("opt-out")
        constraints = [
            models.UniqueConstraint(fields=["user", "messenger", "subscription"], name="dsn_optout_unique"),
            models.UniqueConstraint(
                fields=["user", "messenger"], condition=models.Q(subscription=None), name="dsn_optout_unique_messenger"
            ),
        ]

    def __str__(self) -> str:
        what = " / ".join(x for x in (self.messenger, str(self.subscription or "")) if x) or "everything"
        return f"{self.user} opted out of {what}"


class Notification(models.Model):
    """One matched event (the outbox row), with a snapshot of its context."""

    trigger = models.ForeignKey(Trigger, on_delete=models.SET_NULL, null=True, related_name="notifications")
    trigger_name = models.CharField(max_length=150)
    verb = models.CharField(max_length=100)
    action_object_type = models.ForeignKey(
        ContentType, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    action_object_id = models.CharField(max_length=64, blank=True)
    context = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Every index here is paid by each matched save(): only the ones the pump, the
        # sweeper and the admin need (newest first is -pk, which the primary key serves).
        ordering = ["-pk"]
        verbose_name = _("notification")
        indexes = [
            models.Index(
                fields=["created_at"], condition=models.Q(fanned_out_at__isnull=True), name="dsn_notification_pending"
            )
        ]

    def __str__(self) -> str:
        return f"{self.trigger_name} ({self.verb}) #{self.pk}"


class Delivery(models.Model):
    """One message to one address over one backend: its state, attempts and outcome."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed (will retry)")
        DEAD = "dead", _("dead (gave up)")
        SKIPPED = "skipped", _("skipped")

    class Receipt(models.TextChoices):
        """What the provider reported later about a message it accepted (see :mod:`dsn_core.receipts`)."""

        DELIVERED = "delivered", _("delivered")
        UNDELIVERED = "undelivered", _("undelivered")
        BOUNCED = "bounced", _("bounced")
        COMPLAINED = "complained", _("marked as spam")

    # No database constraint on these three (db_constraint=False): each is the same for every row
    # of one fan-out, and PostgreSQL checked the constraint once per row at COMMIT (300,000 checks
    # for 100,000 deliveries, most of its time). Django's ORM still cascades and nulls on delete;
    # see docs/deployment.md, "Delivery foreign keys". The recipient stays constrained.
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries", db_constraint=False
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.SET_NULL, null=True, related_name="+", db_constraint=False
    )
    backend = models.ForeignKey(
        Backend, on_delete=models.SET_NULL, null=True, related_name="deliveries", db_constraint=False
    )
    messenger = models.CharField(max_length=100)
    address = models.CharField(max_length=255, blank=True)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="dsn_deliveries"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True, editable=False)
    last_error = models.TextField(blank=True)
    provider_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # db_default: fan-out writes rows with plain SQL that names only the columns it sets.
    receipt = models.CharField(max_length=12, choices=Receipt.choices, blank=True, db_default="")
    receipt_detail = models.CharField(max_length=255, blank=True, db_default="")
    receipt_at = models.DateTimeField(null=True, blank=True)
    # DO_NOTHING: a resend belongs to its original's notification, so both are always deleted
    # together, and deliveries stay fast to delete (one DELETE, no rows loaded into Python).
    resend_of = models.ForeignKey(
        "self",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="resends",
        db_index=False,
        help_text=_("The delivery an admin sent again as this one."),
    )
    # A step of a fallback chain (dsn_core.orchestration.fallback): the delivery this one replaces.
    fallback_of = models.ForeignKey(
        "self",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="fallbacks",
        db_index=False,
        help_text=_("The delivery of the previous channel in the chain, which this one replaces."),
    )

    class Meta:
        ordering = ["-pk"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            # One delivery per address and backend for an event, so fan-out may run twice;
            # an explicit resend is a new row beside the original.
            models.UniqueConstraint(
                fields=["notification", "backend", "address"],
                condition=models.Q(resend_of=None),
                name="dsn_delivery_unique_address",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="dsn_delivery_due"),
            # What a claim walks: one backend's unfinished rows in id order. Finished rows leave it,
            # so a claim costs the same with a million sent rows as with none.
            models.Index(
                fields=["backend", "id"],
                condition=models.Q(status__in=["pending", "failed", "sending"]),
                name="dsn_delivery_claimable",
            ),
            # Receipts find their delivery by provider id; rows not sent yet stay out of the index,
            # so fan-out pays nothing for it.
            models.Index(
                fields=["messenger", "provider_id"], condition=~models.Q(provider_id=""), name="dsn_delivery_provider"
            ),
            models.Index(
                fields=["resend_of"], condition=models.Q(resend_of__isnull=False), name="dsn_delivery_resends"
            ),
            # Deleting a delivery makes PostgreSQL look for rows naming it as their fallback: without
            # an index that is a scan of the table per deleted row (quadratic for a prune).
            models.Index(
                fields=["fallback_of"], condition=models.Q(fallback_of__isnull=False), name="dsn_delivery_fallbacks"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.messenger} → {self.address or '(none)'} [{self.status}]"


class UsedToken(models.Model):
    """A single-use token already consumed (kept until it would have expired anyway)."""

    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("used token")


class RateState(models.Model):
    """Shared rate-limiter state: the next free slot (epoch seconds) of one limit key."""

    key = models.CharField(max_length=255, primary_key=True)
    tat = models.FloatField(default=0.0)

    class Meta:
        verbose_name = _("rate limiter state")


# Orchestration (digests, throttles, fallback, preferences, quiet hours) keeps its models in its own module.
from .orchestration.models import (  # noqa: E402, F401
    DeliveryPreference,
    Digest,
    DigestItem,
    FallbackStep,
    SubscriptionPolicy,
    ThrottleCount,
    ThrottleGrant,
)
