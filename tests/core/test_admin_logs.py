"""The delivery list an admin reads, and the overview page."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.templatetags.admin_list import result_headers
from django.test import Client
from django.utils import timezone
from django.utils.text import capfirst

from dsn_core.models import Delivery, Notification
from tests.core.test_admin import staff_client

pytestmark = pytest.mark.django_db


def _delivery(notification: Notification, **kwargs: Any) -> Delivery:
    return Delivery.objects.create(notification=notification, messenger="locmem", **kwargs)


def test_the_delivery_list_shows_status_error_channel_recipient(client: Client, admin_user: Any) -> None:
    notification = Notification.objects.create(trigger_name="t", verb="post_save")
    _delivery(notification, status="skipped", address="user:1", recipient=admin_user, last_error="no address")
    _delivery(notification, status="sent", address="ops@example.com", sent_at=timezone.now())
    client.force_login(admin_user)
    response = client.get("/admin/dsn_core/delivery/")
    html = response.content.decode()
    assert '<td class="field-channel">Local memory (tests)</td>' in html
    assert '<td class="field-short_error">no address</td>' in html
    assert '<td class="field-who">admin</td>' in html and '<td class="field-who">ops@example.com</td>' in html
    headers = [capfirst(str(h["text"])) for h in result_headers(response.context["cl"])][1:]
    assert headers == ["ID", "Status", "Error", "Channel", "Recipient", "Attempts", "Time"]


def test_the_overview_counts_and_is_linked_from_dsns_admin_page(
    client: Client, admin_user: Any, django_user_model: Any
) -> None:
    notification = Notification.objects.create(trigger_name="t", verb="post_save")
    now = timezone.now()
    for _ in range(3):
        _delivery(notification, status="sent", address="a", sent_at=now)
    _delivery(notification, status="dead", address="b", last_error="refused")
    _delivery(notification, status="pending", address="c")
    client.force_login(admin_user)
    assert "/admin/dsn_core/delivery/overview/" in client.get("/admin/dsn_core/").content.decode()
    response = client.get("/admin/dsn_core/delivery/overview/")
    assert response.status_code == 200
    context = response.context
    assert context["state"]["dead_last_24h"] == 1
    assert context["waiting"] == [{"channel": "Local memory (tests)", "pending": 1, "sending": 0, "failed": 0}]
    assert sum(row["sent"] for row in context["hours"]) == 3 and sum(row["failed"] for row in context["hours"]) == 1
    assert len(context["hours"]) == 24
    nobody = staff_client(django_user_model, "view_trigger", username="nobody")
    assert nobody.get("/admin/dsn_core/delivery/overview/").status_code == 403
