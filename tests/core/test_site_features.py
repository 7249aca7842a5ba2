"""Features a site's users and admins meet: the seed's quickstart, the preferences page,
messages in the recipient's language, and a backend's own retry policy."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType

from dsn_core import hookimpl
from dsn_core.builtins import LocmemMessenger
from dsn_core.models import Backend, Delivery, MessageTemplate, OptOut, Subscription, Trigger
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


def test_the_seed_quickstart_prints_the_message(
    admin_user: Any, dsn_flush: Any, capsys: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """django-signal-notifier's quickstart, step by step, in DSN's words."""
    trigger = Trigger.objects.create(
        name="Article pre_save", verb="pre_save", action_object_type=ContentType.objects.get_for_model(Article)
    )
    template = MessageTemplate.objects.create(
        name="simple", subject="{{ verb }}", text="{{ instance.title }} is being saved"
    )
    backend = Backend.objects.create(name="print", messenger="console", template=template)
    subscription = Subscription.objects.create(trigger=trigger)
    subscription.backends.add(backend)
    subscription.receiver_users.add(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="new_test_model2")
    dsn_flush()
    out = capsys.readouterr().out
    assert "[DSN console] to admin" in out and "new_test_model2 is being saved" in out


class PersonalMessenger(LocmemMessenger):
    """locmem as a channel people receive on (locmem itself is internal: not on the page)."""

    key = "personal"
    label = "Personal test channel"
    internal = False


@hookimpl
def _register_personal(register: Any) -> None:
    register(PersonalMessenger)


def test_preferences_page_mutes_a_channel(
    client: Any,
    make_flow: Any,
    django_user_model: Any,
    dsn_outbox: Any,
    django_capture_on_commit_callbacks: Any,
    dsn_plugin: Any,
) -> None:
    dsn_plugin("personal-tests", SimpleNamespace(register_messengers=_register_personal))
    user = django_user_model.objects.create_user("pat", password="pw")
    make_flow(Article, users=[user], messenger="personal")
    assert client.get("/dsn/preferences/").status_code == 302  # login required
    client.force_login(user)
    page = client.get("/dsn/preferences/").content.decode()
    assert "Mute Personal test channel" in page
    assert "Local memory" not in page and "Console" not in page  # internal channels
    assert client.post("/dsn/preferences/", {"off": ["personal"]}).status_code == 200
    assert OptOut.objects.filter(user=user, messenger="personal", subscription=None).exists()
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="muted")
    assert dsn_outbox == []
    assert Delivery.objects.get().last_error == "opted out"
    client.post("/dsn/preferences/", {})  # unmute
    assert not OptOut.objects.filter(user=user).exists()


@pytest.mark.parametrize("urls", ["without_dsn_urls", "no_root_urlconf"])
def test_a_site_that_does_not_mount_dsn_urls_still_sends(
    urls: str, settings: Any, make_flow: Any, admin_user: Any, dsn_outbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A worker-only settings module, or a site without ``dsn_core.urls``: no unsubscribe link."""
    if urls == "no_root_urlconf":
        del settings.ROOT_URLCONF
    else:
        settings.ROOT_URLCONF = "tests.testapp.urls_without_dsn"
    make_flow(Article, users=[admin_user], text="{{ instance.title }} {{ unsubscribe_url|default:'(no link)' }}")
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="x")
    assert [m.text for m in dsn_outbox] == ["x (no link)"]
    assert Delivery.objects.get().status == "sent"


def test_messages_render_in_the_recipients_language(
    settings: Any, make_flow: Any, django_user_model: Any, dsn_outbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.DSN = {**settings.DSN, "USER_LANGUAGE_ATTRIBUTE": "last_name"}  # a field holding "fr" / "de"
    fr = django_user_model.objects.create_user("fr", last_name="fr")
    de = django_user_model.objects.create_user("de", last_name="de")
    plain = django_user_model.objects.create_user("plain")
    make_flow(
        Article,
        users=[fr, de, plain],
        text="{% load i18n %}{% get_current_language as lang %}{{ recipient }}={{ lang }}",
    )
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="x")
    assert sorted(m.text for m in dsn_outbox) == ["de=de", "fr=fr", f"plain={settings.LANGUAGE_CODE}"]


def test_a_backend_sets_its_own_retry_policy(
    make_flow: Any, admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = make_flow(
        Article, users=[admin_user], options={"fail": "transient", "retry_max_attempts": "1", "retry_base": "0.5"}
    )
    backend = subscription.backends.get()
    backend.full_clean()  # the core's retry options pass every messenger's validation ...
    assert backend.options["retry_max_attempts"] == 1 and backend.options["retry_base"] == 0.5
    backend.save()
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="x")
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("dead", 1)  # ... and apply: one attempt, then dead
    assert "gave up after 1 attempts" in delivery.last_error


def test_unknown_retry_option_is_still_rejected(make_flow: Any) -> None:
    from django.core.exceptions import ValidationError

    backend = make_flow(Article, options={"retry_forever": True}).backends.get()
    with pytest.raises(ValidationError) as info:
        backend.full_clean()
    assert "retry_forever" in str(info.value)
