"""The quickstart done by clicking in a real browser, with no JSON typed: a trigger with a
builder condition "status changed from paid to shipped", a template using a variable inserted
from the help panel, an SMS backend filled through typed fields, a subscription for a group;
then an object saved in the admin, and the SMS observed at a fake Twilio on 127.0.0.1."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType

from dsn_core.models import Address, Backend, Subscription, Trigger
from tests.browser.helpers import Effort
from tests.dsn_sms.conftest import FakeTwilio, sms_section
from tests.fakes import FakeServer
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(predicate: Any, seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_the_quickstart_by_clicking_sends_an_sms(
    admin_login: Any, page: Any, live_server: Any, settings: Any, django_user_model: Any, capsys: Any
) -> None:
    with FakeServer() as server:
        twilio = FakeTwilio(server)
        settings.DSN = {**settings.DSN, "SMS": sms_section(twilio)}
        shipping = Group.objects.create(name="Shipping")
        sam = django_user_model.objects.create_user("sam", password="pw")
        sam.groups.add(shipping)
        Address.objects.create(user=sam, messenger="sms", address="+15005550001")
        article = Article.objects.create(title="Teapot", status="paid")
        article_ct = ContentType.objects.get_for_model(Article)

        you = Effort(page)
        admin_login()  # counted too: one page, two fields, one click
        you.typed += ["admin", "pw"]
        you.clicks += 1
        url = live_server.url + "/admin/dsn_core"

        # 1. the trigger: when an article's status changes from paid to shipped
        you.goto(f"{url}/trigger/add/")
        you.fill("#id_name", "Article shipped")
        you.choose("#id_verb", value="post_save")
        you.choose("#id_action_object_type", value=str(article_ct.pk))
        you.click("text=Add a condition")
        row = page.locator(".dsn-condition").nth(0)
        you.clicks += 2
        row.locator("select.dsn-field").select_option("status")
        row.locator("select.dsn-op").select_option("changed_from_to")
        you.typed += ["paid", "shipped"]
        row.locator("input").nth(0).fill("paid")
        row.locator("input").nth(1).fill("shipped")
        you.click("input[name=_save]")
        page.wait_for_url(f"{url}/trigger/")

        # 2. the template, its variable inserted from the help panel
        you.goto(f"{url}/messagetemplate/add/")
        you.fill("#id_name", "Shipped")
        you.fill("#id_text", "Shipped: ")
        page.locator("#id_text").press("End")
        you.choose("#dsn-help-model", value=str(article_ct.pk))
        you.click("#dsn-template-help button[data-insert='{{ instance.title }}']")
        assert page.locator("#id_text").input_value() == "Shipped: {{ instance.title }}"
        you.click("input[name=_save]")
        page.wait_for_url(f"{url}/messagetemplate/")

        # 3. the SMS backend, its settings through typed fields
        you.goto(f"{url}/backend/add/")
        you.fill("#id_name", "SMS to shipping")
        you.choose("#id_messenger", value="sms")
        assert page.locator("fieldset.dsn-options-sms").is_visible()
        assert not page.locator("fieldset.dsn-options-console").is_visible()
        you.choose("#id_template", label="Shipped")
        you.fill("#id_options__sms__max_length", "120")
        you.click("input[name=_save]")
        page.wait_for_url(f"{url}/backend/")

        # 4. the subscription: that backend, to the Shipping group
        you.goto(f"{url}/subscription/add/")
        you.fill("#id_name", "Tell shipping")
        you.autocomplete("id_trigger", "Article", "Article shipped")
        you.autocomplete("id_backends", "SMS", "SMS to shipping")
        you.autocomplete("id_receiver_groups", "Ship", "Shipping")
        you.click("input[name=_save]")
        page.wait_for_url(f"{url}/subscription/")

        trigger = Trigger.objects.get()
        assert trigger.conditions == [{"field": "status", "op": "changed_from_to", "from": "paid", "to": "shipped"}]
        assert Backend.objects.get().options == {"include_subject": False, "max_length": 120, "max_segments": 3}
        assert list(Subscription.objects.get().receiver_groups.all()) == [shipping]

        # 5. an admin ships the article; the SMS reaches the provider
        you.goto(f"{live_server.url}/admin/testapp/article/{article.pk}/change/")
        you.fill("#id_status", "shipped")
        you.click("input[name=_save]")
        page.wait_for_url(f"{live_server.url}/admin/testapp/article/")
        sent = wait_for(lambda: twilio.sent)
        assert [(r.form.get("To"), r.form.get("Body")) for r in sent] == [("+15005550001", "Shipped: Teapot")]

    with capsys.disabled():
        print(
            f"\n[quickstart by clicking] page loads: {you.loads}, fields typed: {len(you.typed)} "
            f"({sum(map(len, you.typed))} characters, no JSON), clicks and choices: {you.clicks}"
        )
    assert not any(ch in "".join(you.typed) for ch in '[]{}"')
