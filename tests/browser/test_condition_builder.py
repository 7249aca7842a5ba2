"""The trigger form's condition builder in a real browser: rows write the stored JSON."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType

from dsn_core.models import Trigger
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True)


def test_builder_rows_write_the_conditions_and_read_them_back(admin_login: Any, live_server: Any) -> None:
    page = admin_login()
    page.goto(f"{live_server.url}/admin/dsn_core/trigger/add/")
    assert not page.locator("details.dsn-advanced").get_attribute("open")  # JSON tucked away
    page.fill("#id_name", "Article shipped")
    page.select_option("#id_verb", "post_save")
    ct = ContentType.objects.get_for_model(Article)
    page.select_option("#id_action_object_type", str(ct.pk))
    page.click("text=Add a condition")
    row = page.locator(".dsn-condition").nth(0)
    row.locator("select.dsn-field").select_option("status")
    row.locator("select.dsn-op").select_option("changed_from_to")
    row.locator("input").nth(0).fill("paid")
    row.locator("input").nth(1).fill("shipped")
    page.click("text=Add a condition")
    second = page.locator(".dsn-condition").nth(1)
    second.locator("select.dsn-op").select_option("created_false")
    page.click("input[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/dsn_core/trigger/")
    trigger = Trigger.objects.get()
    assert trigger.conditions == [
        {"field": "status", "op": "changed_from_to", "from": "paid", "to": "shipped"},
        {"op": "created", "value": False},
    ]
    page.goto(f"{live_server.url}/admin/dsn_core/trigger/{trigger.pk}/change/")
    first = page.locator(".dsn-condition").nth(0)
    assert first.locator("select.dsn-field").input_value() == "status"
    assert first.locator("select.dsn-op").input_value() == "changed_from_to"
    assert first.locator("input").nth(1).input_value() == "shipped"


def test_conditions_the_builder_cannot_show_stay_editable_as_json(admin_login: Any, live_server: Any) -> None:
    ct = ContentType.objects.get_for_model(Article)
    trigger = Trigger.objects.create(
        name="t", verb="post_save", action_object_type=ct, conditions=[{"field": "status", "op": "eq", "value": "x"}]
    )
    Trigger.objects.filter(pk=trigger.pk).update(conditions=[{"field": "status", "op": "eq", "value": "x", "y": 1}])
    page = admin_login()
    page.goto(f"{live_server.url}/admin/dsn_core/trigger/{trigger.pk}/change/")
    assert page.locator("details.dsn-advanced").get_attribute("open") is not None
    assert page.get_by_text("the builder cannot show").is_visible()
    assert '"y": 1' in page.locator("#id_conditions").input_value()


def test_a_boolean_field_is_a_checkbox(admin_login: Any, live_server: Any) -> None:
    from django.contrib.auth import get_user_model

    page = admin_login()
    page.goto(f"{live_server.url}/admin/dsn_core/trigger/add/")
    page.fill("#id_name", "Staff saved")
    page.select_option("#id_verb", "post_save")
    page.select_option("#id_action_object_type", str(ContentType.objects.get_for_model(get_user_model()).pk))
    page.click("text=Add a condition")
    row = page.locator(".dsn-condition").nth(0)
    row.locator("select.dsn-field").select_option("is_staff")
    row.locator("select.dsn-op").select_option("eq")
    row.locator("input[type=checkbox]").check()
    page.click("input[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/dsn_core/trigger/")
    assert Trigger.objects.get().conditions == [{"field": "is_staff", "op": "eq", "value": True}]


def test_a_subscription_on_the_trigger_page_lists_the_receivers_of_the_chosen_model(
    admin_login: Any, live_server: Any
) -> None:
    from tests.testapp.models import Team

    page = admin_login()
    page.goto(f"{live_server.url}/admin/dsn_core/trigger/add/")
    page.click("text=Add another Subscription")
    owner = page.locator("input[value='instance.owner']").first
    members = page.locator("input[value='instance.members']").first
    assert owner.is_visible() and members.is_visible()  # no model chosen yet: every model's people
    page.select_option("#id_action_object_type", str(ContentType.objects.get_for_model(Article).pk))
    assert owner.is_visible() and not members.is_visible()
    page.select_option("#id_action_object_type", str(ContentType.objects.get_for_model(Team).pk))
    assert members.is_visible() and not owner.is_visible()
    assert page.locator("input[value='actor']").first.is_visible()  # not tied to a model
