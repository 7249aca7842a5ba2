"""URLs of the benchmark site (DSN's, when installed, for unsubscribe links)."""

from django.apps import apps
from django.urls import include, path

urlpatterns = [path("dsn/", include("dsn_core.urls"))] if apps.is_installed("dsn_core") else []
