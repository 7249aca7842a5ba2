"""An ESP's tracking webhook (Postmark's format, through django-anymail's own view) reports
deliveries, bounces and complaints; dsn-email records them as receipts on the deliveries."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.test import Client

from dsn_core.addresses import get_address, set_address
from dsn_core.models import Delivery, OptOut
from tests.testapp.models import Article

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.dsn_email.urls")]
WEBHOOK = "/anymail/postmark/tracking/"
AUTH = "Basic " + base64.b64encode(b"hook:s3cret-hook").decode()


@pytest.fixture
def sent(
    settings: Any,
    email_settings: Any,
    make_flow: Any,
    django_user_model: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> dict[str, Delivery]:
    """Two emails DSN sent through anymail's test backend, by recipient name."""
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret-hook"}
    email_settings(FROM="noreply@dsn.test", CONNECTIONS={"esp": {"BACKEND": "anymail.backends.test.EmailBackend"}})
    ann = django_user_model.objects.create_user("ann", "ann@example.com")
    bob = django_user_model.objects.create_user("bob", "")
    set_address(bob, "email", "bob@example.com")
    make_flow(Article, messenger="email", users=[ann, bob], options={"connection": "esp"})
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hello")
    deliveries = {d.recipient.username: d for d in Delivery.objects.select_related("recipient")}
    assert {d.status for d in deliveries.values()} == {"sent"} and len(mailoutbox) == 2
    return deliveries


def post_event(client: Client, event: dict[str, Any], *, auth: str = AUTH) -> int:
    response = client.post(WEBHOOK, json.dumps(event), content_type="application/json", HTTP_AUTHORIZATION=auth)
    return response.status_code


def event(record_type: str, delivery: Delivery, *, metadata: bool = True, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "RecordType": record_type,
        "MessageID": delivery.provider_id,
        "Recipient": delivery.address,
        "Email": delivery.address,
        **extra,
    }
    if metadata:
        body["Metadata"] = {"dsn_delivery": str(delivery.pk)}
    return body


def test_delivered_is_recorded(client: Client, sent: dict[str, Delivery]) -> None:
    assert (
        post_event(
            client, event("Delivery", sent["ann"], DeliveredAt="2026-11-25T10:00:00Z", Details="smtp;250 2.0.0 OK")
        )
        == 200
    )
    ann = Delivery.objects.get(pk=sent["ann"].pk)
    assert (ann.status, ann.receipt) == ("sent", "delivered")
    assert ann.receipt_detail == "Postmark delivered, smtp;250 2.0.0 OK"
    assert ann.receipt_at is not None and ann.receipt_at.isoformat().startswith("2026-11-25T10:00:00")
    assert Delivery.objects.get(pk=sent["bob"].pk).receipt == ""


def test_a_hard_bounce_deactivates_the_address(client: Client, sent: dict[str, Delivery]) -> None:
    bounce = event(
        "Bounce",
        sent["bob"],
        Type="HardBounce",
        ID=42,
        Description="The server was unable to deliver",
        BouncedAt="2026-11-25T10:00:00Z",
    )
    assert post_event(client, bounce) == 200
    bob = Delivery.objects.get(pk=sent["bob"].pk)
    assert bob.receipt == "bounced"
    assert bob.receipt_detail == "Postmark bounced, bounced, The server was unable to deliver"
    assert get_address(bob.recipient, "email") is None  # the address book entry is inactive now


def test_a_spam_complaint_opts_the_recipient_out_of_email(client: Client, sent: dict[str, Delivery]) -> None:
    complaint = event("SpamComplaint", sent["ann"], Type="SpamComplaint", ID=43, BouncedAt="2026-11-25T10:00:00Z")
    assert post_event(client, complaint) == 200
    assert Delivery.objects.get(pk=sent["ann"].pk).receipt == "complained"
    assert list(OptOut.objects.values_list("user__username", "messenger")) == [("ann", "email")]


def test_without_metadata_the_message_id_finds_the_delivery(client: Client, sent: dict[str, Delivery]) -> None:
    assert post_event(client, event("Delivery", sent["bob"], metadata=False)) == 200
    assert Delivery.objects.get(pk=sent["bob"].pk).receipt == "delivered"


def test_steps_and_other_mail_are_ignored(client: Client, sent: dict[str, Delivery]) -> None:
    opened = event("Open", sent["ann"], FirstOpen=True, ReceivedAt="2026-11-25T10:00:00Z")
    stranger = {"RecordType": "Delivery", "MessageID": "not-ours", "Recipient": "x@example.com"}
    assert (post_event(client, opened), post_event(client, stranger)) == (200, 200)
    assert set(Delivery.objects.values_list("receipt", flat=True)) == {""}


def test_a_webhook_without_anymails_secret_records_nothing(client: Client, sent: dict[str, Delivery]) -> None:
    forged = "Basic " + base64.b64encode(b"hook:guess").decode()
    bounce = event("Bounce", sent["bob"], Type="HardBounce", ID=44)
    assert post_event(client, bounce, auth=forged) == 400
    assert Delivery.objects.get(pk=sent["bob"].pk).receipt == ""
    assert get_address(sent["bob"].recipient, "email") == "bob@example.com"
