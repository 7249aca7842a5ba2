"""Rendering: templates checked when saved, values escaped per channel, the context a template sees."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.dispatch import Signal

from dsn_core import hookimpl
from dsn_core.messengers import Message, Messenger, SendResult
from dsn_core.models import Delivery, MessageTemplate, Notification
from dsn_core.verbs import register_signal, unregister_signal
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

article_shipped = Signal()


@pytest.fixture
def shipped_verb() -> Iterator[str]:
    register_signal("article_shipped", article_shipped)
    yield "article_shipped"
    unregister_signal("article_shipped")


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw")


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", "bob@example.com", "pw")


class Starry(Messenger):
    """A channel whose markup uses ``*``: values must have theirs escaped."""

    key = "starry"
    label = "Starry markup (tests)"
    sent: list[Message] = []

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return {u.pk: u.get_username() for u in users}

    def escape(self, value: str) -> str:
        return value.replace("\\", "\\\\").replace("*", "\\*")

    def send(self, message: Message) -> SendResult:
        self.sent.append(message)
        return SendResult()


class StarryPlugin:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        register(Starry)


@pytest.fixture
def starry(dsn_plugin: Any) -> type[Starry]:
    Starry.sent = []
    dsn_plugin("starry-tests", StarryPlugin())
    return Starry


def _send(make_flow: Any, capture: Any, user: Any, article: dict[str, Any] | None = None, **flow: Any) -> None:
    make_flow(Article, users=[user], **flow)
    with capture(execute=True):
        Article.objects.create(**(article or {"title": "Hello"}))


# -- checked when saved -------------------------------------------------------------------


def test_syntax_error_reports_field_and_line() -> None:
    template = MessageTemplate(name="broken", subject="ok", text="Hello\n{{ instance.title }}\n{% if %}\nbye")
    with pytest.raises(ValidationError) as info:
        template.full_clean()
    errors = info.value.message_dict
    assert set(errors) == {"text"}
    assert errors["text"][0].startswith("line 3:")


def test_every_broken_field_is_reported() -> None:
    template = MessageTemplate(name="broken", subject="{% endif %}", text="fine", html="<p>\n\n{{ a| }}</p>")
    with pytest.raises(ValidationError) as info:
        template.full_clean()
    errors = info.value.message_dict
    assert set(errors) == {"subject", "html"}
    assert errors["subject"][0].startswith("line 1:") and errors["html"][0].startswith("line 3:")


def test_unknown_tag_is_an_error() -> None:
    with pytest.raises(ValidationError) as info:
        MessageTemplate(name="t", text="{% load cache %}{% cache 5 x %}{% endcache %}").full_clean()
    assert "cache" in " ".join(info.value.message_dict["text"])


def test_unknown_engine() -> None:
    with pytest.raises(ValidationError) as info:
        MessageTemplate(name="t", engine="jinja9", text="hi").full_clean()
    assert "'jinja9'" in " ".join(info.value.message_dict["engine"])


def test_good_template_passes() -> None:
    MessageTemplate(
        name="t", subject="{{ verb }}", text="{% if instance %}{{ instance }}{% endif %}", html="<p>{{ instance }}</p>"
    ).full_clean()


# -- escaping -----------------------------------------------------------------------------


def test_values_are_escaped_for_the_channel_but_template_text_is_not(
    make_flow: Any, alice: Any, starry: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _send(
        make_flow,
        django_capture_on_commit_callbacks,
        alice,
        {"title": "2*3 \\ 4", "status": "a*b"},
        messenger="starry",
        text="*New:* {{ instance.title }} / {{ instance.status|upper }} / {{ recipient.username }}*",
    )
    assert [m.text for m in starry.sent] == ["*New:* 2\\*3 \\\\ 4 / A\\*B / alice*"]


def test_values_inside_blocks_are_escaped(
    make_flow: Any, alice: Any, starry: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _send(
        make_flow,
        django_capture_on_commit_callbacks,
        alice,
        {"title": "x*y"},
        messenger="starry",
        text="{% if instance %}*{{ instance.title }}*{% endif %}{% for c in 'ab' %}{{ instance.title }}{% endfor %}",
    )
    assert starry.sent[0].text == "*x\\*y*x\\*yx\\*y"


def test_values_from_firstof_are_escaped(
    make_flow: Any, alice: Any, starry: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _send(
        make_flow,
        django_capture_on_commit_callbacks,
        alice,
        {"title": "x*y"},
        messenger="starry",
        text="{% firstof instance.note instance.title %}",
    )
    assert starry.sent[0].text == "x\\*y"


def test_plain_channels_substitute_values_as_they_are(
    make_flow: Any, alice: Any, dsn_outbox: list[Message], django_capture_on_commit_callbacks: Any
) -> None:
    _send(
        make_flow,
        django_capture_on_commit_callbacks,
        alice,
        {"title": "<b>Tom & Jerry</b>"},
        text="{{ instance.title }} *",
    )
    assert dsn_outbox[0].text == "<b>Tom & Jerry</b> *"


def test_html_body_escapes_values_not_markup(
    make_flow: Any, alice: Any, dsn_outbox: list[Message], django_capture_on_commit_callbacks: Any
) -> None:
    make_flow(Article, users=[alice], text="{{ instance.title }}")
    MessageTemplate.objects.update(html='<p class="t">{{ instance.title }}</p>')
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title='<script>alert("x")</script> & co')
    message = dsn_outbox[0]
    assert message.html == '<p class="t">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co</p>'
    assert message.text == '<script>alert("x")</script> & co'


def test_html_body_also_escapes_for_escaping_channels(
    make_flow: Any, alice: Any, starry: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_flow(Article, users=[alice], messenger="starry", text="{{ instance.title }}")
    MessageTemplate.objects.update(html="<i>{{ instance.title }}</i>")
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="<a*b>")
    assert starry.sent[0].html == "<i>&lt;a*b&gt;</i>"
    assert starry.sent[0].text == "<a\\*b>"


def test_subject_is_one_line(
    make_flow: Any, alice: Any, dsn_outbox: list[Message], django_capture_on_commit_callbacks: Any
) -> None:
    _send(
        make_flow,
        django_capture_on_commit_callbacks,
        alice,
        {"title": "Line one\nLine   two"},
        subject="\n  New: {{ instance.title }}\n",
    )
    assert dsn_outbox[0].subject == "New: Line one Line two"


# -- the context --------------------------------------------------------------------------


def test_context_has_every_documented_name(
    make_flow: Any,
    alice: Any,
    bob: Any,
    shipped_verb: str,
    dsn_outbox: list[Message],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_flow(
        Article,
        verb=shipped_verb,
        users=[alice],
        text=(
            "{{ verb }}|{{ instance.title }}|{{ action_object.status }}|{{ actor.username }}|{{ target }}|"
            "{{ recipient.username }}|{{ carrier }}|{{ kwargs.carrier }}|{{ kwargs.parcels }}|{{ address }}|"
            "{{ notification.pk }}"
        ),
    )
    article = Article.objects.create(title="Parcel", status="shipped")
    with django_capture_on_commit_callbacks(execute=True):
        article_shipped.send(
            sender=Article, action_object=article, actor=bob, target="warehouse", carrier="post", parcels=3
        )
    notification = Notification.objects.get()
    assert dsn_outbox[0].text == (
        f"article_shipped|Parcel|shipped|bob|warehouse|alice|post|post|3|alice|{notification.pk}"
    )


def test_related_objects_load_from_the_snapshot(
    make_flow: Any, alice: Any, bob: Any, dsn_outbox: list[Message], django_capture_on_commit_callbacks: Any
) -> None:
    _send(
        make_flow,
        django_capture_on_commit_callbacks,
        alice,
        {"title": "Mine", "owner": bob},
        text="{{ instance.owner.email }}",
    )
    assert dsn_outbox[0].text == "bob@example.com"


def test_unsubscribe_url_for_users_not_for_fixed_addresses(
    make_flow: Any, alice: Any, dsn_outbox: list[Message], django_capture_on_commit_callbacks: Any
) -> None:
    _send(
        make_flow,
        django_capture_on_commit_callbacks,
        alice,
        fixed={"locmem": ["ops-room"]},
        text="[{{ unsubscribe_url }}]",
    )
    by_address = {m.address: m for m in dsn_outbox}
    assert by_address["alice"].text.startswith("[https://example.test/")
    assert by_address["alice"].unsubscribe_url == by_address["alice"].text[1:-1]
    assert by_address["ops-room"].text == "[]"
    assert by_address["ops-room"].recipient is None


def test_missing_values_render_empty(
    make_flow: Any, alice: Any, dsn_outbox: list[Message], django_capture_on_commit_callbacks: Any
) -> None:
    _send(make_flow, django_capture_on_commit_callbacks, alice, text="[{{ actor.username }}][{{ nothing.here }}]")
    assert dsn_outbox[0].text == "[][]"
    assert Delivery.objects.get().status == "sent"
