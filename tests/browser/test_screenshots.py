"""Screenshots of the admin's forms and the end users' pages for docs/img/ (docs/user-guide.md).

Skipped unless ``DSN_SCREENSHOTS=1``:
``DSN_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_screenshots.py``.
Each shot is one element (a form, a list), not the whole window, so the PNGs stay small.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from dsn_core.models import Backend, Delivery, MessageTemplate, Notification, OptOut, Subscription, Trigger
from tests.testapp.models import Article

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("DSN_SCREENSHOTS"), reason="screenshots only with DSN_SCREENSHOTS=1"),
]

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def shoot(page: Any, name: str, selector: str = "#content") -> None:
    path = IMG / f"{name}.png"
    page.locator(selector).first.screenshot(path=str(path))


def test_take_screenshots(
    admin_login: Any, live_server: Any, settings: Any, admin_user: Any, django_user_model: Any
) -> None:
    settings.DSN = {k: v for k, v in settings.DSN.items() if k != "TELEGRAM"}
    IMG.mkdir(exist_ok=True)
    ct = ContentType.objects.get_for_model(Article)
    conditions = [
        {"field": "status", "op": "changed_from_to", "from": "paid", "to": "shipped"},
        {"op": "created", "value": False},
    ]
    trigger = Trigger.objects.create(
        name="Article shipped", verb="post_save", action_object_type=ct, conditions=conditions
    )
    template = MessageTemplate.objects.create(
        name="Shipped",
        subject="{{ instance.title }} shipped",
        text="Hello {{ recipient }}: {{ instance.title }} is on its way.",
    )
    backend = Backend.objects.create(
        name="Email", messenger="email", template=template, options={"subject_prefix": "[Shop] "}
    )
    sub = Subscription.objects.create(
        name="Tell the owner and shipping",
        trigger=trigger,
        dynamic_receivers=["instance.owner"],
        fixed_addresses={"email": ["ops@example.com"]},
    )
    sub.backends.add(backend)
    sub.receiver_groups.add(Group.objects.create(name="Shipping"))
    Article.objects.create(title="Teapot", status="paid", owner=admin_user)
    notification = Notification.objects.create(trigger=trigger, trigger_name=trigger.name, verb="post_save")
    now = timezone.now()
    for i in range(6):
        Delivery.objects.create(
            notification=notification,
            backend=backend,
            messenger="email",
            recipient=admin_user,
            address=f"person{i}@example.com",
            status="sent",
            attempts=1,
            sent_at=now,
        )
    Delivery.objects.create(
        notification=notification,
        backend=backend,
        messenger="email",
        address="bad@",
        status="dead",
        attempts=8,
        last_error="550 mailbox unavailable",
    )
    page = admin_login()
    page.set_viewport_size({"width": 1100, "height": 900})
    base = live_server.url + "/admin/dsn_core"
    page.goto(f"{base}/trigger/{trigger.pk}/change/")
    shoot(page, "admin-trigger-conditions", "fieldset:has(.dsn-conditions)")
    page.goto(f"{base}/backend/{backend.pk}/change/")
    shoot(page, "admin-backend-settings", "#backend_form")
    page.goto(f"{base}/backend/add/")
    page.fill("#id_name", "Ops chat")
    page.select_option("#id_messenger", "telegram")
    page.select_option("#id_template", label="Shipped")
    page.click("input[name=_save]")
    shoot(page, "admin-backend-not-configured", "fieldset.module >> nth=0")
    page.goto(f"{base}/subscription/{sub.pk}/change/")
    page.locator("details.dsn-fixed").evaluate("d => d.open = true")
    shoot(page, "admin-subscription-recipients", "#subscription_form")
    page.goto(f"{base}/messagetemplate/{template.pk}/change/")
    shoot(page, "admin-template-help", "#messagetemplate_form")
    page.goto(f"{base}/messagetemplate/{template.pk}/preview/")
    shoot(page, "admin-template-preview", "#content-main")
    page.goto(f"{base}/delivery/")
    shoot(page, "admin-deliveries", "#changelist")
    page.goto(f"{base}/delivery/overview/")
    shoot(page, "admin-overview", "#content-main")
    pat = django_user_model.objects.create_user("pat", "pat@example.com", "pw")
    OptOut.objects.create(user=pat, messenger="email", subscription=sub)
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/login/")  # log in as pat through the test client's session
    from django.test import Client

    client = Client()
    client.force_login(pat)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/dsn/preferences/")
    shoot(page, "preferences", "body")
    assert (IMG / "preferences.png").stat().st_size < 150_000
