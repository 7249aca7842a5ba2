"""The orchestration settings in the admin: typed fields on the subscription page."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from dsn_core.models import DeliveryPreference, FallbackStep, SubscriptionPolicy

pytestmark = pytest.mark.django_db


def _form_data(html: str) -> dict[str, Any]:
    """The values a browser would submit for the page's inputs, selects and textareas."""
    data: dict[str, Any] = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or 'type="submit"' in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag:
            if "checked" in tag:
                data[name.group(1)] = "on"
            continue
        data[name.group(1)] = unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.findall(r'<option value="([^"]*)"[^>]*selected', body)
        if chosen:
            data[name] = chosen if len(chosen) > 1 else chosen[0]
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        data[name] = unescape(body).lstrip("\n")
    return data


def test_the_subscription_page_sets_a_policy_and_a_chain(client: Any, admin_user: Any, flow: Any) -> None:
    sub = flow("chat", "mail")
    FallbackStep.objects.all().delete()
    client.force_login(admin_user)
    url = f"/admin/dsn_core/subscription/{sub.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="policy-0-digest"' not in page  # no policy yet: an "add another" row only
    data = _form_data(page)
    backends = {b.messenger: b.pk for b in sub.backends.all()}
    data.update(
        {
            "policy-TOTAL_FORMS": "1",
            "policy-0-subscription": str(sub.pk),
            "policy-0-digest": "window",
            "policy-0-digest_minutes": "15",
            "policy-0-digest_at": "",
            "policy-0-digest_max_events": "20",
            "policy-0-digest_first_immediately": "on",
            "policy-0-throttle_limit": "5",
            "policy-0-throttle_minutes": "60",
            "policy-0-throttle_scope": "subscription",
            "policy-0-throttle_overflow": "digest",
            "policy-0-routing": "chain",
            "policy-0-respect_quiet_hours": "on",
            "fallback_steps-TOTAL_FORMS": "2",
            "fallback_steps-0-position": "1",
            "fallback_steps-0-backend": str(backends["mail"]),
            "fallback_steps-1-position": "2",
            "fallback_steps-1-backend": str(backends["chat"]),
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    policy = SubscriptionPolicy.objects.get(subscription=sub)
    assert (policy.digest, policy.digest_minutes, policy.digest_max_events, policy.throttle_overflow) == (
        "window",
        15,
        20,
        "digest",
    )
    assert list(FallbackStep.objects.filter(subscription=sub).values_list("backend__messenger", flat=True)) == [
        "mail",
        "chat",
    ]
    page = client.get(url).content.decode()
    assert 'name="policy-0-digest"' in page and "Quiet hours" in page


def test_a_daily_digest_without_a_time_is_refused_in_the_admin(client: Any, admin_user: Any, flow: Any) -> None:
    sub = flow("chat")
    client.force_login(admin_user)
    url = f"/admin/dsn_core/subscription/{sub.pk}/change/"
    data = _form_data(client.get(url).content.decode())
    data.update(
        {
            "policy-TOTAL_FORMS": "1",
            "policy-0-subscription": str(sub.pk),
            "policy-0-digest": "daily",
            "policy-0-digest_minutes": "10",
            "policy-0-throttle_minutes": "60",
            "policy-0-throttle_scope": "subscription",
            "policy-0-throttle_overflow": "drop",
            "policy-0-routing": "all",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert "A daily digest needs a time of day." in response.content.decode()
    assert not SubscriptionPolicy.objects.exists()


def test_preferences_in_the_admin_name_installed_channels(
    client: Any, admin_user: Any, channels: Any, django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user("ann")
    client.force_login(admin_user)
    data = {
        "user": user.pk,
        "channel_order": "pager, chat",
        "quiet_start": "22:00",
        "quiet_end": "07:00",
        "time_zone": "Europe/Berlin",
    }
    assert client.post("/admin/dsn_core/deliverypreference/add/", dict(data, channel_order="pigeon")).status_code == 200
    assert client.post("/admin/dsn_core/deliverypreference/add/", data).status_code == 302
    assert DeliveryPreference.objects.get().channels == ["pager", "chat"]


def test_the_delivery_log_shows_the_chain_and_digests_are_listed(
    client: Any, admin_user: Any, flow: Any, person: Any
) -> None:
    from dsn_core.models import Address, Delivery

    from .conftest import event

    flow("chat", "mail", users=[person], routing="chain")
    Address.objects.filter(user=person, messenger="chat").delete()
    event("hello")
    first, second = Delivery.objects.order_by("pk")
    client.force_login(admin_user)
    page = client.get(f"/admin/dsn_core/delivery/{second.pk}/change/").content.decode()
    assert "Fallback of" in page and f"/admin/dsn_core/delivery/{first.pk}/change/" in page
    flow("mail", users=[person], digest="window")
    event("later")
    listing = client.get("/admin/dsn_core/digest/").content.decode()
    assert "ann-mail" in listing
