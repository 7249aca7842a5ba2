"""The end users' pages: an unsubscribe link's page names things in words and leads to the
preferences page, which shows the opt-outs made through links and lets the person undo them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dsn_core.models import OptOut
from dsn_core.unsubscribe import unsubscribe_token
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


def test_unsubscribing_by_link_shows_on_the_preferences_page_and_can_be_undone(
    client: Client, make_flow: Any, django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user("pat", password="pw")
    subscription = make_flow(Article, users=[user], messenger="email")
    subscription.name = "Article news"
    subscription.save()
    url = f"/dsn/unsubscribe/{unsubscribe_token(user.pk, 'email', subscription.pk)}/"
    confirm = client.get(url).content.decode()
    assert "Stop receiving “Article news” messages by Email?" in confirm
    assert 'href="/dsn/preferences/"' in confirm
    done = client.post(url).content.decode()
    assert "You will no longer receive “Article news” messages by Email." in done
    assert 'href="/dsn/preferences/"' in done
    opt_out = OptOut.objects.get(user=user)

    client.force_login(user)
    page = client.get("/dsn/preferences/").content.decode()
    assert f'name="keep" value="{opt_out.pk}" checked> No more “Article news” messages by Email' in page
    client.post("/dsn/preferences/", {"keep": [str(opt_out.pk)]})  # kept when left ticked
    assert OptOut.objects.filter(pk=opt_out.pk).exists()
    client.post("/dsn/preferences/", {})  # unticked: undone
    assert not OptOut.objects.filter(user=user).exists()


def test_the_preferences_page_sends_a_logged_out_person_to_the_sites_login_url(client: Client, settings: Any) -> None:
    settings.LOGIN_URL = "/members/sign-in/"
    response = client.get("/dsn/preferences/")
    assert response.status_code == 302 and response["Location"].startswith("/members/sign-in/?next=/dsn/preferences/")
