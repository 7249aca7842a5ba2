"""Item levels (how an item is styled), importable before the app registry is ready."""

from __future__ import annotations

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _


class Level(TextChoices):
    INFO = "info", _("info")
    SUCCESS = "success", _("success")
    WARNING = "warning", _("warning")
    ERROR = "error", _("error")
