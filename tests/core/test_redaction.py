"""Secrets never end up in a delivery's stored error or the logs."""

from __future__ import annotations

from typing import Any

import pytest

from dsn_core import hookimpl
from dsn_core.errors import TransientError
from dsn_core.messengers import Messenger
from dsn_core.models import Delivery
from dsn_core.redaction import redact
from tests.testapp.models import Article

TOKEN = "123456:AAH-very-secret-token"
pytestmark = pytest.mark.django_db


class Leaky(Messenger):
    key = "leaky"
    label = "Leaky"

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return {u.pk: u.get_username() for u in users}

    def send(self, message: Any) -> Any:
        raise TransientError(f"POST https://api.example/bot{TOKEN}/send: timed out")


class LeakyPlugin:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        register(Leaky)


def test_mail_passwords_are_masked_without_deprecation_warnings(settings: Any, recwarn: Any) -> None:
    """Django 6.1's MAILERS and the older EMAIL_HOST_PASSWORD both hold a mail password."""
    from django.core import mail

    smtp = "django.core.mail.backends.smtp.EmailBackend"
    settings.MAILERS = {"default": {"BACKEND": smtp, "OPTIONS": {"password": "mailer-pass-123"}}}
    assert redact("535 auth failed for mailer-pass-123") == "535 auth failed for ***"
    del settings.MAILERS
    if not hasattr(mail, "mailers"):  # Django < 6.1: the plain setting
        settings.EMAIL_HOST_PASSWORD = "host-pass-456"
        assert redact("535 auth failed for host-pass-456") == "535 auth failed for ***"
    assert not [w for w in recwarn if "EMAIL_HOST_PASSWORD" in str(w.message)]


def test_redact_masks_only_secret_named_settings(settings: Any) -> None:
    settings.DSN = {**settings.DSN, "LEAKY": {"BOT_TOKEN": TOKEN, "API_BASE_URL": "http://127.0.0.1:9"}}
    assert redact(f"bot{TOKEN} at http://127.0.0.1:9") == "bot*** at http://127.0.0.1:9"


def test_stored_error_and_log_are_redacted(
    settings: Any,
    make_flow: Any,
    admin_user: Any,
    dsn_plugin: Any,
    dsn_flush: Any,
    caplog: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.DSN = {**settings.DSN, "LEAKY": {"BOT_TOKEN": TOKEN}}
    dsn_plugin("leaky", LeakyPlugin())
    make_flow(Article, messenger="leaky", users=[admin_user])
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="x")
    dsn_flush()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed"
    assert "bot***/send" in delivery.last_error and TOKEN not in delivery.last_error
    assert TOKEN not in caplog.text
