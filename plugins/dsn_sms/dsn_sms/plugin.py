"""dsn-sms's hook implementations: the ``sms`` messenger and its status-callback URL."""

from __future__ import annotations

from collections.abc import Callable

from django.urls import URLPattern, path

from dsn_core.api import hookimpl


@hookimpl
def register_messengers(register: Callable[[type], None]) -> None:
    """Provide the ``sms`` messenger."""
    from .messenger import SmsMessenger

    register(SmsMessenger)


@hookimpl
def urlpatterns() -> list[URLPattern]:
    """Mount the Twilio status callback at ``<dsn prefix>/sms/status/``."""
    from .webhooks import status_callback

    return [path("sms/status/", status_callback, name="dsn_sms_status")]
