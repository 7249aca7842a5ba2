"""Sending through django-anymail's test backend (an ESP backend, no SMTP at all)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailAPIError
from anymail.message import AnymailRecipientStatus
from dsn_email.messenger import EmailMessenger

from dsn_core.errors import ConfigurationError, PermanentError, TransientError
from dsn_core.messengers import Message, SendResult
from dsn_core.models import Delivery
from tests.testapp.models import Article

ANYMAIL_TEST = "anymail.backends.test.EmailBackend"


def api_error(status: int, reason: str, **headers: str) -> AnymailAPIError:
    response = requests.Response()
    response.status_code, response.reason = status, reason
    response.headers.update(headers)
    response._content = b'{"error": "scripted"}'
    return AnymailAPIError(reason, status_code=status, response=response)


class ScriptedESP(AnymailTestBackend):
    """Anymail's test backend, answering by recipient: the way a real ESP API would."""

    def post_to_esp(self, payload: Any, message: Any) -> Any:
        to = payload.recipient_emails[0]
        if to.startswith("slow"):
            message.anymail_test_response = api_error(429, "Too Many Requests", **{"Retry-After": "17"})
        elif to.startswith("badkey"):
            message.anymail_test_response = api_error(401, "Unauthorized")
        elif to.startswith("down"):
            message.anymail_test_response = api_error(503, "Service Unavailable")
        elif to.startswith("rejected"):
            status = AnymailRecipientStatus(message_id="esp-rej", status="rejected")
            message.anymail_test_response = {"recipient_status": {to: status}}
        return super().post_to_esp(payload, message)


def msg(address: str, **kwargs: Any) -> Message:
    return Message(address=address, subject="Hi", text="plain", delivery_id=3, **kwargs)


def test_anymail_test_backend_receives_everything(email_settings: Any, mailoutbox: list[Any]) -> None:
    email_settings(FROM="noreply@dsn.test")
    messenger = EmailMessenger({"connection": ANYMAIL_TEST})
    with messenger:
        outcomes = messenger.send_batch(
            [
                msg(
                    "a@example.com",
                    html="<p>rich</p>",
                    unsubscribe_url="https://example.test/u/1/",
                    metadata={"verb": "post_save"},
                ),
                msg("b@example.com"),
            ]
        )

    assert [type(o) for o in outcomes] == [SendResult, SendResult]
    # anymail's message id (the test backend numbers its outbox) is the provider id
    assert [o.provider_id for o in outcomes] == ["0", "1"]
    params = mailoutbox[0].anymail_test_params
    assert [e.addr_spec for e in params["to"]] == ["a@example.com"]
    assert params["html_body"] == "<p>rich</p>" and params["text_body"] == "plain"
    assert params["extra_headers"]["List-Unsubscribe"] == "<https://example.test/u/1/>"
    assert params["extra_headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert params["metadata"] == {"dsn_delivery": "3", "dsn_verb": "post_save"}


def test_anymail_errors_are_mapped(email_settings: Any, mailoutbox: list[Any]) -> None:
    email_settings(FROM="noreply@dsn.test", CONNECTIONS={"esp": {"BACKEND": f"{__name__}.ScriptedESP"}})
    messenger = EmailMessenger({"connection": "esp"})
    with messenger:
        ok, slow, badkey, down, rejected = messenger.send_batch(
            [
                msg("ok@example.com"),
                msg("slow@example.com"),
                msg("badkey@example.com"),
                msg("down@example.com"),
                msg("rejected@example.com"),
            ]
        )
    assert isinstance(ok, SendResult)
    assert isinstance(slow, TransientError) and "429" in str(slow)
    assert slow.retry_after == 17.0
    assert isinstance(badkey, ConfigurationError) and "401" in str(badkey)
    assert isinstance(down, TransientError) and not isinstance(down, ConfigurationError)
    assert isinstance(rejected, PermanentError) and "rejected" in str(rejected)


def test_rejected_recipient_with_ignore_recipient_status(
    email_settings: Any, settings: Any, mailoutbox: list[Any]
) -> None:
    settings.ANYMAIL = {"IGNORE_RECIPIENT_STATUS": True}  # anymail no longer raises: DSN reads the status
    email_settings(FROM="noreply@dsn.test", CONNECTIONS={"esp": {"BACKEND": f"{__name__}.ScriptedESP"}})
    outcome = EmailMessenger({"connection": "esp"}).send_batch([msg("rejected@example.com")])[0]
    assert isinstance(outcome, PermanentError)
    assert "rejected" in str(outcome)


@pytest.mark.django_db
def test_pipeline_through_anymail(
    make_flow: Any,
    django_user_model: Any,
    email_settings: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    email_settings(FROM="noreply@dsn.test")
    user = django_user_model.objects.create_user("carol", "carol@example.com", "pw")
    make_flow(Article, messenger="email", users=[user], options={"connection": ANYMAIL_TEST})
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Via ESP")
    delivery = Delivery.objects.get()
    assert delivery.status == "sent", delivery.last_error
    assert delivery.provider_id == "0"
    assert mailoutbox[0].to == ["carol@example.com"]
    assert mailoutbox[0].body == "post_save: Via ESP"
