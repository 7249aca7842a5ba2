"""Django app config: the inbox models, views, templates, template tags and script."""

from __future__ import annotations

from django.apps import AppConfig


class DsnInboxConfig(AppConfig):
    name = "dsn_inbox"
    label = "dsn_inbox"
    verbose_name = "DSN inbox"
    default_auto_field = "django.db.models.BigAutoField"
