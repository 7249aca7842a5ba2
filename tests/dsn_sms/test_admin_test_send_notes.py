"""The admin's "send a test to me" on an SMS backend, through Twilio's wire format on 127.0.0.1:
the result message says what the text cost (segments, encoding), and the preview it returns to
shows the same backend's notes."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from dsn_core.addresses import set_address
from dsn_core.models import Backend, MessageTemplate

from .conftest import FakeTwilio

pytestmark = pytest.mark.django_db

TEXT = "Votre commande est expédiée 📦 merci"  # 35 characters; the emoji makes it UCS-2 and counts 2


def test_a_test_send_reports_the_segments_and_the_preview_shows_them(
    configure: Any, twilio: FakeTwilio, client: Client, admin_user: Any
) -> None:
    client.force_login(admin_user)
    set_address(admin_user, "sms", "+14155550123")
    template = MessageTemplate.objects.create(name="shipped", subject="s", text=TEXT)
    backend = Backend.objects.create(name="Texts", messenger="sms", template=template)
    response = client.post(
        f"/admin/dsn_core/messagetemplate/{template.pk}/send-test/", {"backend": backend.pk, "verb": "post_save"}
    )
    assert [r.form["Body"] for r in twilio.sent] == [TEXT]
    [flash] = [str(m) for m in get_messages(response.wsgi_request)]
    assert flash.startswith("Test sent through Texts to +14155550123: accepted (provider id SM")
    assert "1 SMS segment (UCS-2, 36 characters: 70 fit in one SMS" in flash
    assert f"backend={backend.pk}" in response["Location"]
    page = client.get(response["Location"])
    assert [row["notes"][0] for row in page.context["notes"]] == [
        "1 SMS segment (UCS-2, 36 characters: 70 fit in one SMS, 67 per segment); UCS-2 because of '📦'"
    ]
    assert page.context["send_form"]["backend"].value() == str(backend.pk)
