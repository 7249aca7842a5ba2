"""The template preview shows what each backend's messenger says about the rendered message
(``Messenger.preview_notes``): SMS segments and encoding, X's weighted length; any messenger
can add notes, and one whose notes fail cannot break the page."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from dsn_core import hookimpl
from dsn_core.messengers import Message, Messenger, SendResult
from dsn_core.models import Backend, MessageTemplate
from tests.core.test_admin import staff_client
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

PERSIAN = "سفارش شما ارسال شد و به زودی به دست شما خواهد رسید. با تشکر از خرید شما از فروشگاه ما"


class Fragile(Messenger):
    key = "fragile"
    label = "Fragile notes"

    def preview_notes(self, message: Message) -> list[str]:
        raise RuntimeError("boom")

    def send(self, message: Message) -> SendResult:
        return SendResult()


class FragilePlugin:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        register(Fragile)


@pytest.fixture
def su(client: Client, admin_user: Any) -> Client:
    client.force_login(admin_user)
    return client


def preview(client: Client, template: MessageTemplate, **query: Any) -> Any:
    ct = ContentType.objects.get_for_model(Article).pk
    return client.get(
        f"/admin/dsn_core/messagetemplate/{template.pk}/preview/", {"verb": "post_save", "content_type": ct, **query}
    )


def notes_of(response: Any) -> dict[str, list[str]]:
    return {row["backend"].name: row["notes"] for row in response.context["notes"]}


def test_the_preview_shows_sms_segments_and_x_weighted_length_for_the_templates_backends(su: Client) -> None:
    Article.objects.create(title="shop.io")
    template = MessageTemplate.objects.create(name="shipped", subject="Shipped", text=PERSIAN + " {{ instance.title }}")
    Backend.objects.create(name="Texts", messenger="sms", template=template)
    Backend.objects.create(name="Timeline", messenger="twitter", template=template)
    Backend.objects.create(name="Console", messenger="console", template=template)  # no notes: not listed
    response = preview(su, template)
    assert response.status_code == 200
    notes = notes_of(response)
    assert set(notes) == {"Texts", "Timeline"}
    length = len(PERSIAN) + 1 + len("shop.io")  # the SMS counts characters; UCS-2 because of Persian letters
    assert notes["Texts"][0].startswith(f"2 SMS segments (UCS-2, {length} characters: 70 fit in one SMS")
    # X counts the bare domain as a URL (23) and each Persian letter as 1 (not CJK)
    assert notes["Timeline"] == [
        f"X counts {len(PERSIAN) + 1 + 23} of 280 for a post (each URL 23, each emoji 2, CJK characters 2)."
    ]
    html = response.content.decode()
    assert 'id="dsn-preview-notes"' in html and "<strong>Texts</strong> (SMS (Twilio))" in html
    assert "2 SMS segments (UCS-2" in html and "X counts" in html


def test_the_preview_says_when_a_backend_cuts_the_text(su: Client) -> None:
    template = MessageTemplate.objects.create(name="long", subject="s", text="x" * 300)
    Backend.objects.create(name="Texts", messenger="sms", template=template, options={"max_segments": 1})
    Backend.objects.create(name="Timeline", messenger="twitter", template=template)
    notes = notes_of(preview(su, template))
    assert notes["Texts"][0].startswith("2 SMS segments (GSM-7, 300 GSM-7 characters")
    assert notes["Texts"][1].startswith("Over this backend's limits (max_segments 1")
    assert "cut to 160 characters, 1 segment(s)" in notes["Texts"][1]
    assert notes["Timeline"][0].startswith("X counts 300 of 280 for a post")
    assert "over the limit, it will be cut to 280 with an ellipsis" in notes["Timeline"][0]


def test_the_last_test_sends_backend_is_shown_and_chosen_again(su: Client) -> None:
    template = MessageTemplate.objects.create(name="t", subject="s", text="Hello")
    other = MessageTemplate.objects.create(name="other", subject="s", text="")
    texts = Backend.objects.create(name="Texts elsewhere", messenger="sms", template=other)
    response = preview(su, template, backend=texts.pk)
    assert notes_of(response) == {
        "Texts elsewhere": ["1 SMS segment (GSM-7, 5 GSM-7 characters: 160 fit in one SMS, 153 per segment)"]
    }
    assert response.context["send_form"]["backend"].value() == str(texts.pk)
    assert notes_of(preview(su, template)) == {}  # not one of this template's backends
    assert notes_of(preview(su, template, backend="x")) == {}


def test_a_messenger_whose_notes_fail_gets_a_note_not_an_error(su: Client, dsn_plugin: Any) -> None:
    dsn_plugin("fragile-tests", FragilePlugin())  # a third-party messenger, no admin code of its own
    template = MessageTemplate.objects.create(name="t", subject="s", text="Hello")
    Backend.objects.create(name="Fragile", messenger="fragile", template=template)
    Backend.objects.create(name="Broken options", messenger="sms", template=template, options={"max_segments": "x"})
    response = preview(su, template)
    assert response.status_code == 200, response.content
    assert notes_of(response) == {"Fragile": ["The channel could not describe this message (RuntimeError)."]}


def test_notes_name_backends_only_to_people_who_may_view_backends(django_user_model: Any) -> None:
    template = MessageTemplate.objects.create(name="t", subject="s", text="Hello")
    Backend.objects.create(name="Texts", messenger="sms", template=template)
    templates_only = staff_client(django_user_model, "view_messagetemplate")
    assert notes_of(preview(templates_only, template, content_type="")) == {}
    both = staff_client(django_user_model, "view_messagetemplate", "view_backend", username="both")
    assert set(notes_of(preview(both, template, content_type=""))) == {"Texts"}
