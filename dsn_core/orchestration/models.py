"""Orchestration's models: a subscription's policy (digest, throttle, routing, quiet hours),
the ordered fallback chain, each person's delivery preferences, and the durable state of
digests and throttles.

They live in their own module and are imported by :mod:`dsn_core.models`, so Django sees
them as ``dsn_core`` models; a subscription without a policy row behaves exactly as before.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SubscriptionPolicy(models.Model):
    """How much and where: a subscription's digest, throttle, routing and quiet-hours settings."""

    class Digest(models.TextChoices):
        OFF = "", _("no digest: one message per event")
        WINDOW = "window", _("collect for a window of minutes")
        DAILY = "daily", _("collect until a time of day (recipient's time zone)")

    class Scope(models.TextChoices):
        SUBSCRIPTION = "subscription", _("this subscription")
        CHANNEL = "channel", _("the channel, across subscriptions with a channel throttle")

    class Overflow(models.TextChoices):
        DROP = "drop", _("drop (recorded as skipped: throttled)")
        DIGEST = "digest", _("fold into the next digest")

    class Routing(models.TextChoices):
        ALL = "all", _("every backend")
        CHAIN = "chain", _("fallback chain: the first backend that works")
        PREFERRED = "preferred", _("each person's preferred channel, then the chain")

    subscription = models.OneToOneField(
        "dsn_core.Subscription",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="policy",
        verbose_name=_("subscription"),
    )
    digest = models.CharField(_("digest"), max_length=10, choices=Digest.choices, blank=True, default="")
    digest_minutes = models.PositiveIntegerField(
        _("digest window (minutes)"), default=10, help_text=_("How long a window collects, from its first event.")
    )
    digest_at = models.TimeField(
        _("daily digest at"), null=True, blank=True, help_text=_("For a daily digest: HH:MM in the recipient's zone.")
    )
    digest_max_events = models.PositiveIntegerField(
        _("send after this many events"),
        null=True,
        blank=True,
        help_text=_("Close the window early when it holds this many events. Empty: only the window."),
    )
    digest_first_immediately = models.BooleanField(
        _("send the first event at once"),
        default=False,
        help_text=_("The first event after a quiet period goes out at once; the rest wait for the digest."),
    )
    throttle_limit = models.PositiveIntegerField(
        _("throttle: at most"), null=True, blank=True, help_text=_("Messages per recipient per window. Empty: none.")
    )
    throttle_minutes = models.PositiveIntegerField(_("throttle window (minutes)"), default=60)
    throttle_scope = models.CharField(
        _("throttle counts"), max_length=12, choices=Scope.choices, default=Scope.SUBSCRIPTION
    )
    throttle_overflow = models.CharField(
        _("over the limit"), max_length=6, choices=Overflow.choices, default=Overflow.DROP
    )
    routing = models.CharField(_("routing"), max_length=10, choices=Routing.choices, default=Routing.ALL)
    fallback_on_receipt = models.BooleanField(
        _("fall back on a bad receipt"),
        default=False,
        help_text=_("A receipt of undelivered or bounced also tries the next channel."),
    )
    respect_quiet_hours = models.BooleanField(
        _("respect quiet hours"),
        default=True,
        help_text=_("Hold non-critical messages until the recipient's quiet hours end (or digest them)."),
    )

    class Meta:
        verbose_name = _("orchestration")
        verbose_name_plural = _("orchestration")

    def __str__(self) -> str:
        return f"orchestration of {self.subscription}"

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if self.digest == self.Digest.DAILY and self.digest_at is None:
            errors["digest_at"] = _("A daily digest needs a time of day.")
        if self.digest == self.Digest.WINDOW and not self.digest_minutes:
            errors["digest_minutes"] = _("A window digest needs a window of at least one minute.")
        if self.throttle_limit is not None and not self.throttle_minutes:
            errors["throttle_minutes"] = _("A throttle needs a window of at least one minute.")
        if errors:
            raise ValidationError(errors)

    @property
    def active(self) -> bool:
        """Whether any option differs from plain one-message-per-event sending."""
        return bool(self.digest or self.throttle_limit or self.routing != self.Routing.ALL or self.respect_quiet_hours)


class FallbackStep(models.Model):
    """One backend's place in a subscription's fallback chain (lowest position first)."""

    subscription = models.ForeignKey(
        "dsn_core.Subscription",
        on_delete=models.CASCADE,
        related_name="fallback_steps",
        verbose_name=_("subscription"),
    )
    backend = models.ForeignKey(
        "dsn_core.Backend", on_delete=models.CASCADE, related_name="+", verbose_name=_("backend")
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("fallback step")
        constraints = [
            models.UniqueConstraint(fields=["subscription", "backend"], name="dsn_fallback_step_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.position}: {self.backend}"


def validate_time_zone(value: str) -> None:
    """A name from the IANA database, like ``Europe/Berlin``."""
    if not value:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(_("%(zone)s is not a time zone name (e.g. Europe/Berlin).") % {"zone": value}) from exc


class DeliveryPreference(models.Model):
    """One person's choices: preferred channel order, quiet hours and time zone."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="dsn_preference",
        verbose_name=_("user"),
    )
    channel_order = models.CharField(
        _("preferred channels"),
        max_length=255,
        blank=True,
        help_text=_("Messenger keys, most preferred first, separated by commas."),
    )
    quiet_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, validators=[validate_time_zone])

    class Meta:
        verbose_name = _("delivery preference")

    def __str__(self) -> str:
        return f"preferences of {self.user}"

    @property
    def channels(self) -> list[str]:
        return [key.strip() for key in self.channel_order.split(",") if key.strip()]

    def zone(self) -> zoneinfo.ZoneInfo:
        """The person's time zone (the site's when unset or unknown)."""
        try:
            return zoneinfo.ZoneInfo(self.time_zone or settings.TIME_ZONE)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo("UTC")

    def clean(self) -> None:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValidationError(_("Give both ends of the quiet hours, or neither."))


class Digest(models.Model):
    """One recipient's open (or sent) digest window on one backend of one subscription.

    At most one open digest per (subscription, backend, address): a unique key, so two
    workers adding the first event at once still share one window, and closing is one
    conditional UPDATE, so a window is sent exactly once.
    """

    subscription = models.ForeignKey("dsn_core.Subscription", on_delete=models.CASCADE, related_name="+")
    backend = models.ForeignKey("dsn_core.Backend", on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    address = models.CharField(max_length=255)
    opened_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
    #: The event that opened the window and went out at once ("send the first immediately").
    first_notification_id = models.BigIntegerField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # No database constraint and nothing done on delete: retention deletes deliveries without
    # loading them, and a closed window's link is only for the log.
    delivery = models.ForeignKey(
        "dsn_core.Delivery",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The one message this window became."),
    )

    class Meta:
        verbose_name = _("digest")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "backend", "address"],
                condition=models.Q(closed_at=None),
                name="dsn_digest_one_open",
            )
        ]
        indexes = [models.Index(fields=["due_at"], condition=models.Q(closed_at=None), name="dsn_digest_due")]

    def __str__(self) -> str:
        return f"digest to {self.address} ({self.count} events)"


class DigestItem(models.Model):
    """One event waiting in a digest."""

    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="items")
    notification = models.ForeignKey("dsn_core.Notification", on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("digest item")
        constraints = [models.UniqueConstraint(fields=["digest", "notification"], name="dsn_digest_item_unique")]


class ThrottleCount(models.Model):
    """Messages counted for one throttle key in one fixed window (shared by every process)."""

    key = models.CharField(max_length=255, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("throttle counter")


class ThrottleGrant(models.Model):
    """The throttle's answer for one message (an event on a backend of a subscription).

    Fan-out may run twice for the same event (two pumps, a retried task): the second run
    reads this answer instead of taking a second slot.
    """

    key = models.CharField(max_length=255)
    notification_id = models.BigIntegerField()
    subscription_id = models.BigIntegerField()
    backend_id = models.BigIntegerField()
    allowed = models.BooleanField(default=False)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("throttle answer")
        constraints = [
            models.UniqueConstraint(
                fields=["key", "notification_id", "subscription_id", "backend_id"], name="dsn_throttle_grant_unique"
            ),
        ]
