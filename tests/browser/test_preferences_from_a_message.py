"""An end user follows the unsubscribe link in an email, unsubscribes, reaches the preferences
page through the site's login, sees that opt-out and undoes it — in a real browser."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.core import mail

from dsn_core.models import OptOut
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_preferences_page_is_reached_from_a_messages_link(
    page: Any, live_server: Any, settings: Any, make_flow: Any, django_user_model: Any
) -> None:
    settings.ROOT_URLCONF = "tests.browser.urls"
    settings.LOGIN_URL = "/accounts/login/"
    settings.DSN = {**settings.DSN, "BASE_URL": live_server.url}
    pat = django_user_model.objects.create_user("pat", "pat@example.com", "pw")
    subscription = make_flow(
        Article, users=[pat], messenger="email", text="{{ instance.title }} is out.\nStop these: {{ unsubscribe_url }}"
    )
    subscription.name = "Article news"
    subscription.save()
    Article.objects.create(title="Spring catalogue")
    deadline = time.monotonic() + 10
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.05)
    link = re.search(r"Stop these: (\S+)", mail.outbox[0].body)[1]
    assert link.startswith(live_server.url)

    page.goto(link)
    assert "Stop receiving “Article news” messages by Email?" in page.inner_text("body")
    page.click("text=Unsubscribe")
    assert "You will no longer receive “Article news” messages by Email." in page.inner_text("body")
    page.click("#dsn-preferences-link")
    page.wait_for_url(re.compile(r".*/accounts/login/\?next=/dsn/preferences/"))
    page.fill("#id_username", "pat")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dsn/preferences/")
    body = page.inner_text("body")
    assert "No more “Article news” messages by Email" in body
    assert "Mute Email" in body and "Console" not in body and "Local memory" not in body
    page.uncheck("input[name=keep]")
    page.click("button[type=submit]")
    assert "Saved." in page.inner_text("body")
    assert not OptOut.objects.filter(user=pat).exists()
