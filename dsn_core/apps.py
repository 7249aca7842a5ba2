"""The Django app config: loads plugins, installs the lazy index bootstrap, starts the reloader."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save, pre_migrate

logger = logging.getLogger("dsn_core")


def _config_changed(sender: Any, **kwargs: Any) -> None:
    from django.db import transaction

    from . import index
    from .models import ConfigState

    if kwargs.get("raw"):
        return
    if kwargs.get("action") and not str(kwargs["action"]).startswith("post_"):
        return  # m2m_changed: act once, after the change
    try:
        ConfigState.bump()
    except Exception:
        logger.exception("DSN could not record a configuration change")
    index.request_rebuild()
    transaction.on_commit(index.request_rebuild, robust=True)


def _migrate_started(sender: Any, **kwargs: Any) -> None:
    from . import index

    index.migrating(True)


def _migrate_finished(sender: Any, **kwargs: Any) -> None:
    from . import index

    index.migrating(False)


class DsnCoreConfig(AppConfig):
    name = "dsn_core"
    label = "dsn_core"
    verbose_name = "DSN notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, index, plugins  # noqa: F401  (registers checks)
        from .models import Backend, MessageTemplate, Subscription, Trigger
        from .redaction import install_log_redaction

        for model in (Trigger, Subscription, Backend, MessageTemplate):
            post_save.connect(_config_changed, sender=model, dispatch_uid=f"dsn_config_{model.__name__}")
            post_delete.connect(_config_changed, sender=model, dispatch_uid=f"dsn_config_del_{model.__name__}")
        for through in (Subscription.backends.through,):
            m2m_changed.connect(_config_changed, sender=through, dispatch_uid="dsn_config_sub_backends")
        pre_migrate.connect(_migrate_started, dispatch_uid="dsn_pre_migrate")
        post_migrate.connect(_migrate_finished, dispatch_uid="dsn_post_migrate")
        index.install_bootstrap()
        install_log_redaction()  # before any plugin builds a client that logs its URL
        from .orchestration.fallback import connect as connect_fallback

        connect_fallback()  # a dead step (or a bad receipt) moves a fallback chain on
        plugins.call_observers("ready")
        if not _is_management_command_without_server():
            index.start_reloader()


def _is_management_command_without_server() -> bool:
    """No reload thread for one-shot commands like migrate or makemigrations."""
    argv = sys.argv
    if len(argv) < 2 or not argv[0].endswith(("manage.py", "django-admin")):
        return False
    return argv[1] in {
        "migrate",
        "makemigrations",
        "check",
        "collectstatic",
        "test",
        "shell",
        "dsn_plugins",
        "createsuperuser",
        "showmigrations",
        "sqlmigrate",
        "dsn_render",
        "dsn_fire",
        "dsn_test_send",
        "dsn_sweep",
        "dsn_prune",
        "dsn_status",
    }
