"""The backend form: typed settings from each messenger's ``Option``s, and channel readiness."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.checks import Error
from django.test import Client

from dsn_core import hookimpl
from dsn_core.messengers import Messenger, Option, SendResult
from dsn_core.models import Backend, MessageTemplate
from dsn_core.readiness import clear_cache

pytestmark = pytest.mark.django_db


class PigeonMessenger(Messenger):
    """A third-party channel with one option of each kind, and no admin code of its own."""

    key = "pigeon"
    label = "Carrier pigeon"
    options = (
        Option("loft", "which loft the bird flies from", required=True),
        Option("ring", "put a ring on the bird", default=True, type=bool),
        Option("altitude", "metres", default=100, type=int),
        Option("speed", "km/h", type=float),
        Option("colour", "the bird's colour", default="grey", choices=("grey", "white")),
    )

    def send(self, message: Any) -> SendResult:
        return SendResult()


class RavenMessenger(Messenger):
    """A channel whose configuration check fails (as a missing bot token does)."""

    key = "raven"
    label = "Raven"
    options = (Option("castle", "where it flies"),)

    @classmethod
    def check(cls) -> list[Any]:
        return [Error("DSN Raven: DSN['RAVEN']['KEY'] missing.", hint="Put the key in settings.", id="raven.E001")]

    def send(self, message: Any) -> SendResult:
        return SendResult()


@hookimpl
def _register(register: Any) -> None:
    register(PigeonMessenger)
    register(RavenMessenger)


@pytest.fixture(autouse=True)
def birds(dsn_plugin: Any) -> None:
    dsn_plugin("birds", SimpleNamespace(register_messengers=_register))
    clear_cache()


@pytest.fixture
def su(client: Client, admin_user: Any) -> Client:
    client.force_login(admin_user)
    return client


@pytest.fixture
def template() -> MessageTemplate:
    return MessageTemplate.objects.create(name="t", text="hi")


def typed(template: MessageTemplate, messenger: str = "pigeon", **fields: Any) -> dict[str, Any]:
    data = {"name": "b", "messenger": messenger, "template": template.pk, "typed_options": "1", "options": "{}"}
    data.update({f"options__{messenger}__{k}": v for k, v in fields.items()})
    return data


def fieldset_classes(html: str, title: str) -> str:
    match = re.search(r'<fieldset class="([^"]*)"[^>]*>\s*(?:<details[^>]*>\s*<summary>\s*)?<h2[^>]*>' + title, html)
    assert match, f"no fieldset {title}"
    return match[1]


def test_each_option_is_a_typed_field_and_only_the_chosen_channel_shows(su: Client) -> None:
    html = su.get("/admin/dsn_core/backend/add/?messenger=pigeon").content.decode()
    assert re.search(r'type="checkbox" name="options__pigeon__ring"[^>]*checked', html)
    assert 'type="number" name="options__pigeon__altitude" value="100"' in html
    assert re.search(r'<select name="options__pigeon__colour"', html)
    assert 'name="options__pigeon__loft"' in html
    assert "hidden" not in fieldset_classes(html, "Carrier pigeon settings")
    assert "hidden" in fieldset_classes(html, "Raven settings")
    assert "dsn_core/admin.js" in html


def test_typed_fields_are_stored_as_typed_json(su: Client, template: MessageTemplate) -> None:
    # ring unticked: a checkbox posts nothing, which is False, not a missing value
    response = su.post(
        "/admin/dsn_core/backend/add/", typed(template, loft="north", altitude="250", speed="42.5", colour="white")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Backend.objects.get().options == {
        "loft": "north",
        "ring": False,
        "altitude": 250,
        "speed": 42.5,
        "colour": "white",
    }


def test_other_channels_fields_are_ignored_and_required_ones_are_asked_for(
    su: Client, template: MessageTemplate
) -> None:
    data = typed(template, altitude="not a number")
    data["options__raven__castle"] = "Winterfell"
    response = su.post("/admin/dsn_core/backend/add/", data)
    errors = response.context["adminform"].form.errors
    assert "Loft is required for Carrier pigeon." in errors["options__pigeon__loft"]
    assert "options__pigeon__altitude" in errors
    assert "options__raven__castle" not in errors
    assert not Backend.objects.exists()


def test_a_change_page_shows_the_stored_values(su: Client, template: MessageTemplate) -> None:
    backend = Backend.objects.create(
        name="b", messenger="pigeon", template=template, options={"loft": "south", "ring": False, "altitude": 7}
    )
    html = su.get(f"/admin/dsn_core/backend/{backend.pk}/change/").content.decode()
    assert 'name="options__pigeon__loft" value="south"' in html
    assert 'name="options__pigeon__altitude" value="7"' in html
    assert not re.search(r'name="options__pigeon__ring"[^>]*checked', html)


def test_without_javascript_the_form_re_renders_for_another_channel(su: Client, template: MessageTemplate) -> None:
    data = {"name": "b", "messenger": "pigeon", "template": template.pk, "typed_options": "1", "_dsn_refresh": "1"}
    response = su.post("/admin/dsn_core/backend/add/", data)
    html = response.content.decode()
    assert response.status_code == 200 and not Backend.objects.exists()
    assert "Showing the settings of Carrier pigeon. Nothing was saved" in html
    assert "hidden" not in fieldset_classes(html, "Carrier pigeon settings")
    assert "hidden" in fieldset_classes(html, "Console \\(print\\) settings")


def test_an_unconfigured_channel_is_marked_and_refused_unless_saved_anyway(
    su: Client, template: MessageTemplate
) -> None:
    html = su.get("/admin/dsn_core/backend/add/").content.decode()
    assert "Raven — not configured: DSN[&#x27;RAVEN&#x27;][&#x27;KEY&#x27;] missing." in html
    response = su.post("/admin/dsn_core/backend/add/", typed(template, "raven", castle="Winterfell"))
    errors = response.context["adminform"].form.errors["messenger"]
    assert len(errors) == 1
    assert "Raven is not configured: DSN['RAVEN']['KEY'] missing. Put the key in settings." in errors[0]
    assert not Backend.objects.exists()
    data = typed(template, "raven", castle="Winterfell")
    data["save_anyway"] = "on"
    assert su.post("/admin/dsn_core/backend/add/", data).status_code == 302
    assert Backend.objects.get().options == {"castle": "Winterfell"}


def test_a_test_send_on_an_unconfigured_channel_names_the_configuration_problem_first(
    su: Client, template: MessageTemplate
) -> None:
    backend = Backend.objects.create(name="ravens", messenger="raven", template=template)
    # the admin has no address on Raven either: the configuration problem is what is said
    response = su.post(
        f"/admin/dsn_core/messagetemplate/{template.pk}/send-test/",
        {"verb": "post_save", "backend": backend.pk},
        follow=True,
    )
    text = " ".join(str(m) for m in response.context["messages"])
    assert "Nothing sent: Raven is not configured (a problem in the site's settings" in text
    assert "DSN['RAVEN']['KEY'] missing" in text and "no address" not in text
