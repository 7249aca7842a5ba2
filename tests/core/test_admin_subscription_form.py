"""The subscription form: receivers ticked from a list and fixed addresses as lines, no JSON."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dsn_core.models import Subscription
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture
def su(client: Client, admin_user: Any) -> Client:
    client.force_login(admin_user)
    return client


def _data(sub: Subscription, **extra: Any) -> dict[str, Any]:
    data = {"name": "s", "trigger": sub.trigger_id, "backends": [b.pk for b in sub.backends.all()], "enabled": "on"}
    # The page's inlines (orchestration policy, fallback chain) submit their management forms.
    for prefix in ("policy", "fallback_steps"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(extra)
    return data


def test_receivers_are_offered_in_words_for_the_triggers_model(su: Client, make_flow: Any) -> None:
    sub = make_flow(Article)
    html = su.get(f"/admin/dsn_core/subscription/{sub.pk}/change/").content.decode()
    assert 'type="checkbox" name="dynamic_receivers" value="instance.owner"' in html
    assert "the article&#x27;s owner" in html
    assert 'value="@superusers"' in html and 'value="actor"' in html
    assert 'name="fixed_addresses__email"' in html


def test_ticked_receivers_and_address_lines_are_stored_as_before(su: Client, make_flow: Any) -> None:
    sub = make_flow(Article)
    data = _data(
        sub,
        dynamic_receivers=["instance.owner", "@superusers"],
        other_receivers="instance.team.members",
        fixed_addresses__email="ops@example.com\n\n  Shop <shop@example.com>  \n",
    )
    response = su.post(f"/admin/dsn_core/subscription/{sub.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    sub.refresh_from_db()
    assert sub.dynamic_receivers == ["instance.owner", "@superusers", "instance.team.members"]
    assert sub.fixed_addresses == {"email": ["ops@example.com", "Shop <shop@example.com>"]}
    html = su.get(f"/admin/dsn_core/subscription/{sub.pk}/change/").content.decode()
    assert "instance.team.members</textarea>" in html
    assert "ops@example.com\nShop &lt;shop@example.com&gt;</textarea>" in html


def test_each_address_is_checked_by_its_channel(su: Client, make_flow: Any) -> None:
    sub = make_flow(Article)
    response = su.post(
        f"/admin/dsn_core/subscription/{sub.pk}/change/", _data(sub, fixed_addresses__email="not an address")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["fixed_addresses"]
    assert errors == ["'email': 'not an address': 'not an address' is not a valid email address."]
    sub.refresh_from_db()
    assert sub.fixed_addresses == {}
