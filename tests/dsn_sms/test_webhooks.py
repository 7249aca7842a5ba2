"""The Twilio status callback: signature checks and what a receipt records."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from dsn_sms.signals import status_received
from twilio.request_validator import RequestValidator

from dsn_core.addresses import get_address, set_address
from dsn_core.models import Backend, Delivery, MessageTemplate, Notification

from .conftest import AUTH_TOKEN

pytestmark = pytest.mark.django_db
TO = "+14155550123"
SID = "SM" + "ab" * 16


@pytest.fixture
def url() -> str:
    return reverse("dsn_core:dsn_sms_status")


@pytest.fixture
def delivery(django_user_model: Any) -> Delivery:
    user = django_user_model.objects.create_user("ann")
    set_address(user, "sms", TO)
    template = MessageTemplate.objects.create(name="t", text="hi")
    backend = Backend.objects.create(name="sms", messenger="sms", template=template)
    notification = Notification.objects.create(trigger_name="t", verb="post_save")
    return Delivery.objects.create(
        notification=notification,
        backend=backend,
        messenger="sms",
        address=TO,
        recipient=user,
        status="sent",
        provider_id=SID,
    )


def post(
    client: Client,
    url: str,
    data: dict[str, str],
    *,
    signed_url: str | None = None,
    token: str = AUTH_TOKEN,
    **headers: str,
) -> Any:
    signature = RequestValidator(token).compute_signature(signed_url or f"http://testserver{url}", data)
    return client.post(url, data, HTTP_X_TWILIO_SIGNATURE=signature, **headers)


def receipt(status: str, code: str = "") -> dict[str, str]:
    data = {"MessageSid": SID, "MessageStatus": status, "To": TO, "AccountSid": "AC" + "0" * 32}
    if code:
        data["ErrorCode"] = code
    return data


def test_undelivered_receipt_is_recorded(configure: Any, client: Client, url: str, delivery: Delivery) -> None:
    seen: list[dict[str, Any]] = []

    def listener(**kwargs: Any) -> None:
        seen.append(kwargs)

    status_received.connect(listener)
    try:
        response = post(client, url, receipt("undelivered", "30003"))
    finally:
        status_received.disconnect(listener)
    assert response.status_code == 204
    delivery.refresh_from_db()
    assert (delivery.receipt, delivery.receipt_detail) == ("undelivered", "Twilio undelivered, error 30003")
    assert delivery.receipt_at is not None
    assert (delivery.status, delivery.last_error) == ("sent", "")  # DSN's part ended when Twilio accepted it
    assert get_address(delivery.recipient, "sms") == TO  # 30003 (unreachable handset) may pass
    assert len(seen) == 1 and seen[0]["delivery"].pk == delivery.pk
    assert (seen[0]["status"], seen[0]["error_code"], seen[0]["message_sid"]) == ("undelivered", 30003, SID)


def test_landline_receipt_deactivates_the_number(configure: Any, client: Client, url: str, delivery: Delivery) -> None:
    assert post(client, url, receipt("failed", "30006")).status_code == 204
    delivery.refresh_from_db()
    assert (delivery.receipt, delivery.receipt_detail) == ("undelivered", "Twilio failed, error 30006")
    assert get_address(delivery.recipient, "sms") is None


def test_delivered_receipt_is_recorded(configure: Any, client: Client, url: str, delivery: Delivery) -> None:
    assert post(client, url, receipt("sent")).status_code == 204  # a step, not an outcome
    delivery.refresh_from_db()
    assert delivery.receipt == ""
    assert post(client, url, receipt("delivered")).status_code == 204
    delivery.refresh_from_db()
    assert (delivery.status, delivery.receipt, delivery.receipt_detail) == ("sent", "delivered", "Twilio delivered")


def test_a_late_delivered_does_not_hide_a_failure(configure: Any, client: Client, url: str, delivery: Delivery) -> None:
    """Twilio's callbacks can arrive out of order: the failure report stands."""
    post(client, url, receipt("undelivered", "30003"))
    post(client, url, receipt("delivered"))
    delivery.refresh_from_db()
    assert delivery.receipt == "undelivered"


def test_bad_or_missing_signature_is_refused(configure: Any, client: Client, url: str, delivery: Delivery) -> None:
    forged = post(client, url, receipt("failed", "30006"), token="not-the-token")
    unsigned = client.post(url, receipt("failed", "30006"))
    signed = post(client, url, receipt("failed", "30006"))
    tampered = client.post(
        url,
        {**receipt("failed", "30006"), "MessageSid": "SMother"},
        HTTP_X_TWILIO_SIGNATURE=signed.request["HTTP_X_TWILIO_SIGNATURE"],
    )
    assert (forged.status_code, unsigned.status_code, tampered.status_code) == (403, 403, 403)
    assert AUTH_TOKEN not in forged.content.decode()


def test_refusals_leave_the_delivery_alone(configure: Any, client: Client, url: str, delivery: Delivery) -> None:
    post(client, url, receipt("failed", "30006"), token="not-the-token")
    delivery.refresh_from_db()
    assert delivery.receipt == ""
    assert get_address(delivery.recipient, "sms") == TO


def test_public_url_from_settings_is_what_gets_verified(
    configure: Any, client: Client, url: str, delivery: Delivery
) -> None:
    public = "https://sms.example.com/hooks/dsn/sms/status/"
    configure(STATUS_CALLBACK_URL=public)
    assert post(client, url, receipt("failed", "30003"), signed_url=public).status_code == 204
    assert post(client, url, receipt("failed", "30003")).status_code == 403  # signed for the internal URL


def test_sha256_signatures_with_a_signing_key(configure: Any, client: Client, url: str, delivery: Delivery) -> None:
    configure(WEBHOOK_SIGNING_KEY="shared-key-secret")
    data = receipt("failed", "30003")
    signature = RequestValidator("shared-key-secret").compute_signature(f"http://testserver{url}", data, "HMAC_SHA256")
    response = client.post(
        url,
        data,
        HTTP_X_TWILIO_SIGNATURE=signature,
        HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS="key=k1,algorithm=HMAC_SHA256",
    )
    assert response.status_code == 204
    delivery.refresh_from_db()
    assert "30003" in delivery.receipt_detail


def test_unknown_message_is_acknowledged(configure: Any, client: Client, url: str, delivery: Delivery) -> None:
    response = post(client, url, {**receipt("failed", "30006"), "MessageSid": "SM" + "cd" * 16})
    assert response.status_code == 204
    delivery.refresh_from_db()
    assert delivery.receipt == ""
    assert get_address(delivery.recipient, "sms") == TO


def test_get_is_not_allowed(configure: Any, client: Client, url: str) -> None:
    assert client.get(url).status_code == 405


def test_unconfigured_site_answers_503(configure: Any, client: Client, url: str) -> None:
    configure(AUTH_TOKEN=None)
    assert post(client, url, receipt("delivered")).status_code == 503
