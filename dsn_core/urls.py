"""Include in the site's URLconf: ``path("dsn/", include("dsn_core.urls"))``.

Mounts the unsubscribe and preferences views and every plugin's ``urlpatterns`` hook.
"""

from __future__ import annotations

import logging

from django.urls import URLPattern, URLResolver, path

from . import views
from .orchestration.views import delivery_preferences

logger = logging.getLogger("dsn_core.urls")
app_name = "dsn_core"


def _plugin_patterns() -> list[URLPattern | URLResolver]:
    from .plugins import call_hook

    patterns: list[URLPattern | URLResolver] = []
    for found in call_hook("urlpatterns"):  # pluggy's order; a plugin that raises is logged and skipped
        try:
            patterns.extend(found)
        except TypeError:
            logger.error("A DSN plugin's urlpatterns hook returned %r, not a list of URL patterns", found)
    return patterns


urlpatterns: list[URLPattern | URLResolver] = [
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("preferences/", views.preferences, name="preferences"),
    path("preferences/delivery/", delivery_preferences, name="delivery_preferences"),  # orchestration
    *_plugin_patterns(),
]
