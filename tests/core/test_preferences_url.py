"""``{{ preferences_url }}``: every message can link the end users' preferences page (absolute
with DSN["BASE_URL"]), beside its unsubscribe link; nothing when the site has no dsn_core.urls."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType

from dsn_core.models import MessageTemplate
from dsn_core.templatehelp import template_variables
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

TEXT = "{{ instance.title }} | stop: {{ unsubscribe_url|default:'-' }} | choose: {{ preferences_url|default:'-' }}"


def test_every_message_links_the_preferences_page(
    make_flow: Any, admin_user: Any, dsn_outbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_flow(Article, users=[admin_user], fixed={"locmem": ["ops@example.test"]}, text=TEXT)
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hello")
    texts = {m.address: m.text for m in dsn_outbox}
    assert texts["admin"].startswith("Hello | stop: https://example.test/dsn/unsubscribe/")
    assert texts["admin"].endswith("| choose: https://example.test/dsn/preferences/")
    assert texts["ops@example.test"] == "Hello | stop: - | choose: https://example.test/dsn/preferences/"


@pytest.mark.parametrize("urls", ["without_dsn_urls", "no_root_urlconf"])
def test_no_preferences_link_without_dsn_urls(
    urls: str, settings: Any, make_flow: Any, admin_user: Any, dsn_outbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    if urls == "no_root_urlconf":
        del settings.ROOT_URLCONF
    else:
        settings.ROOT_URLCONF = "tests.testapp.urls_without_dsn"
    make_flow(Article, users=[admin_user], text=TEXT)
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="x")
    assert [m.text for m in dsn_outbox] == ["x | stop: - | choose: -"]


def test_the_preview_and_the_help_panel_know_preferences_url(client: Any, admin_user: Any) -> None:
    client.force_login(admin_user)
    template = MessageTemplate.objects.create(name="t", subject="s", text="{{ preferences_url }}")
    response = client.get(
        f"/admin/dsn_core/messagetemplate/{template.pk}/preview/",
        {"verb": "post_save", "content_type": ContentType.objects.get_for_model(Article).pk},
    )
    assert response.context["rendered"][1] == "https://example.test/dsn/preferences/"
    every_message = dict(template_variables(None)[-1]["items"])
    assert "preferences" in every_message["preferences_url"]
