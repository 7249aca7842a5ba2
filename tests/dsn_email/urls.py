"""The test URLs plus django-anymail's webhooks, as a site using an ESP's tracking would have."""

from django.urls import include, path

from tests.urls import urlpatterns as base

urlpatterns = [*base, path("anymail/", include("anymail.urls"))]
