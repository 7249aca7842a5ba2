"""A site's URLs that do not include dsn_core.urls."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
