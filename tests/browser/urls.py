"""The test site's URLs plus a login page for people who are not staff (the preferences flow)."""

from django.contrib.auth.views import LoginView
from django.urls import path

from tests.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    path("accounts/login/", LoginView.as_view(template_name="dsn_core/login.html"), name="login"),
    *site_urlpatterns,
]
