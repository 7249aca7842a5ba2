"""Registers the ``http`` messenger when a worker process starts (unless told not to)."""

from __future__ import annotations

import os

from django.apps import AppConfig


class HttpAppConfig(AppConfig):
    name = "tests.delivery.httpapp"
    label = "dsn_delivery_httpapp"

    def ready(self) -> None:
        if os.environ.get("DSN_HTTP_UNINSTALLED"):
            return
        from dsn_core.plugins import add_plugin

        from .plugin import HttpPlugin, messenger_from_env

        add_plugin("dsn-delivery-http", HttpPlugin(messenger_from_env()))
