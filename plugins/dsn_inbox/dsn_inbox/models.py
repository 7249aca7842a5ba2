"""The inbox's tables: one row per item, and one version number per user for cheap polling.

Indexes are made for the reads the badge and the list do on every page view:

- ``dsn_inbox_unread``: (user, id) where unread and not archived, a partial index, so the
  unread count is an index-only count over exactly the rows it counts;
- ``dsn_inbox_list``: (user, id) where not archived: the first page (newest first) and every
  next page (``id < cursor``) are one index range scan.

The delivery and notification an item came from are plain references (no database foreign
key, nothing cascades): DSN's retention may delete old notifications while the inbox keeps
its items, and deleting items never touches the core's tables.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .levels import Level

UNREAD = Q(read_at__isnull=True, archived_at__isnull=True)


class InboxItem(models.Model):
    """One notification in one user's inbox."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="dsn_inbox_items",
        verbose_name=_("user"),
        db_index=False,  # covered by the (user, ...) indexes below
    )
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    text = models.TextField(_("text"), blank=True)
    html = models.TextField(_("HTML"), blank=True)
    link = models.CharField(_("link"), max_length=500, blank=True)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices, default=Level.INFO)
    category = models.CharField(_("category"), max_length=100, blank=True)
    verb = models.CharField(_("verb"), max_length=100, blank=True)
    notification = models.ForeignKey(
        "dsn_core.Notification",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("notification"),
    )
    delivery = models.ForeignKey(
        "dsn_core.Delivery",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("delivery"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)

    class Meta:
        verbose_name = _("inbox item")
        verbose_name_plural = _("inbox items")
        ordering = ["-id"]
        constraints = [
            # A retried batch never makes two items for one delivery.
            models.UniqueConstraint(fields=["delivery"], name="dsn_inbox_one_item_per_delivery"),
        ]
        indexes = [
            models.Index(fields=["user", "id"], condition=UNREAD, name="dsn_inbox_unread"),
            models.Index(fields=["user", "id"], condition=Q(archived_at__isnull=True), name="dsn_inbox_list"),
            models.Index(fields=["read_at"], condition=Q(read_at__isnull=False), name="dsn_inbox_read"),
        ]

    def __str__(self) -> str:
        return self.subject or self.text[:60]

    @property
    def unread(self) -> bool:
        return self.read_at is None


class InboxVersion(models.Model):
    """A number that changes whenever a user's inbox changes (new item, read, archived).

    SSE processes without PostgreSQL LISTEN/NOTIFY or Redis poll these rows for the users
    they hold connections for: one primary-key lookup per poll for all of them.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("inbox version")
