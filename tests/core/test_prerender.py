"""Rendering ahead what does not depend on the recipient (issue 14): a prepared template gives,
recipient by recipient, exactly what the template as compiled gives, errors included, and does
the shared work once."""

from __future__ import annotations

import datetime
from collections import ChainMap
from collections.abc import Callable
from typing import Any

import pytest
from django import template as django_template
from django.contrib.auth import get_user_model
from django.template.base import Node
from django.utils import translation

from dsn_core import engines
from dsn_core.engines import DjangoTemplateEngine, TemplateEngine
from dsn_core.errors import TemplateError
from dsn_core.readonly import ReadOnlyContext
from dsn_core.rendering import PER_RECIPIENT, CompiledTemplate, prepare, render
from tests.testapp.models import Article


def telegram_escape(value: str) -> str:
    """MarkdownV2-style: a backslash before each reserved character."""
    return "".join("\\" + c if c in "_*[]()~`>#+-=|{}.!\\" else c for c in value)


def _users() -> list[Any]:
    User = get_user_model()
    return [
        User(pk=1, username="alice", first_name="Alice", email="a@example.com", is_staff=True),
        User(pk=2, username="bob_<b>", first_name="", email="b@example.com"),
        User(pk=3, username="carol*x", first_name="Carol", email="c@example.com"),
    ]


def _base() -> ReadOnlyContext:
    actor = get_user_model()(pk=9, username="dave")
    article = Article(pk=7, title="Tom & <Jerry>_1.5", status="new", price=1234.5)
    return ReadOnlyContext(
        verb="post_save",
        instance=article,
        action_object=article,
        actor=actor,
        target=None,
        tags=["red", "green", "blue"],
        when=datetime.date(2026, 3, 14),
        amount=1234567.891,
        kwargs={"created": True},
    )


def _own(user: Any) -> dict[str, Any]:
    return {"recipient": user, "address": user.email, "unsubscribe_url": f"https://x.test/u/{user.pk}/"}


def _compiled(text: str, html: str = "", subject: str = "") -> CompiledTemplate:
    engine = DjangoTemplateEngine()
    compile_ = engine.compile
    return CompiledTemplate(
        engine,
        compile_(subject) if subject else None,
        compile_(text) if text else None,
        compile_(html) if html else None,
    )


def _outputs(template: CompiledTemplate, base: Any, escape: Any, users: list[Any]) -> list[Any]:
    out = []
    for user in users:
        try:
            out.append(render(template, ChainMap(_own(user), base), escape))
        except TemplateError as exc:
            out.append(f"error: {exc}")
    return out


def _live(prepared_field: Any) -> list[Any]:
    """The nodes a prepared Django template still renders per recipient."""
    return [p for p in prepared_field.parts if not isinstance(p, str)]


TEMPLATES = {
    "variables": "Hello {{ recipient.username }}, {{ actor }} created {{ instance.title }} ({{ verb }}).",
    "filters": "{{ instance.title|upper }} {{ recipient.username|title }} {{ instance.price|floatformat:2 }}"
    " {{ tags|join:', ' }} {{ address|default:'none' }}",
    "if on recipient": "{% if recipient.is_staff %}staff {{ recipient }}{% else %}user{% endif %} / {{ instance }}",
    "if on instance": "{% if instance.status == 'new' %}new {{ instance.title }}{% else %}old{% endif %}"
    " for {{ recipient.first_name|default:recipient.username }}",
    "for": "{% for t in tags %}{{ forloop.counter }}={{ t }};{% endfor %} {{ recipient }}"
    "{% for t in tags %}{{ t }}/{{ recipient.pk }} {% endfor %}",
    "cycle": "{% for t in tags %}{% cycle 'odd' 'even' %} {% endfor %}{{ recipient }}"
    "{% cycle 'a' 'b' as ab %} {% if recipient.is_staff %}{% cycle ab %}{% endif %} {% cycle ab %} {{ ab }}",
    "cycle silent": "{% cycle 'x' 'y' as xy silent %}{{ recipient }} {{ xy }} {% cycle xy %}",
    "firstof": "{% firstof recipient.first_name recipient.username %} / {% firstof instance.note instance.title %}"
    " {% firstof recipient.first_name 'friend' as name %}{{ name }} {{ instance }}",
    "with": "{% with t=instance.title %}{{ t }}{% endwith %} {% with r=recipient %}{{ r.username }}{% endwith %}",
    "i18n": "{% load i18n %}{% translate 'Hello' %} {{ recipient }}: {% get_current_language as lang %}{{ lang }}"
    " {% language 'fr' %}{% translate 'Yes' %}{% endlanguage %} {{ when }}",
    "l10n": "{% load l10n %}{{ amount }} {{ when|date:'DATE_FORMAT' }} {% localize off %}{{ amount }}"
    "{% endlocalize %} {{ recipient }} {{ instance.price }}",
    "now and widthratio": "{% now 'Y' %} {% widthratio 5 10 100 %} {{ recipient }}",
    "a name set ahead, read per recipient": "{% firstof instance.title as t %}{% if recipient.is_staff %}{{ t }}"
    "{% endif %} {{ recipient }}",
    "every node varies": "{{ recipient }}{{ address }}{{ unsubscribe_url }}",
    "no node varies": "{{ instance.title }} was created by {{ actor }} {% if tags %}with tags{% endif %}",
    "text only": "Nothing to fill in.",
    "missing names": "{{ nothing }}{{ recipient.nothing }}{{ instance.nothing.deeper }} {{ recipient }}",
    "autoescape tag": "{% autoescape on %}{{ instance.title }}{% endautoescape %} {{ recipient }}",
    "spaceless and filter": "{% spaceless %}<p> {{ instance }} </p>{% endspaceless %}"
    "{% filter upper %}{{ recipient }}{% endfilter %}",
    "comment and verbatim": "{# c #}{% comment %}x{% endcomment %}{% verbatim %}{{ recipient }}{% endverbatim %}"
    " {{ recipient }}",
}


@pytest.mark.parametrize("name", list(TEMPLATES))
@pytest.mark.parametrize("language", ["en", "fr"])
def test_prepared_renders_exactly_what_the_compiled_template_renders(name: str, language: str) -> None:
    source = TEMPLATES[name]
    compiled = _compiled(source, html=source, subject=source)
    base, users = _base(), _users()
    for escape in (None, telegram_escape):
        with translation.override(language):
            expected = _outputs(compiled, base, escape, users)
            prepared = prepare(compiled, base, escape)
            got = _outputs(prepared, base, escape, users)
        assert (prepared is compiled) == (name == "every node varies")  # something was rendered ahead
        assert got == expected, name
        assert all(isinstance(o, tuple) for o in got)  # no error


def test_static_parts_are_rendered_ahead_and_varying_ones_stay_live() -> None:
    compiled = _compiled(TEMPLATES["variables"], subject="{{ instance.title }} was created")
    prepared = prepare(compiled, _base())
    assert prepared is not compiled and prepared.prepared is not None
    assert prepared.subject.text == "Tom & <Jerry>_1.5 was created"  # all of it ahead: no node left
    parts = prepared.text.parts
    assert parts[0] == "Hello " and parts[2] == ", dave created Tom & <Jerry>_1.5 (post_save)."
    assert [p.token.contents for p in _live(prepared.text)] == ["recipient.username"]


def test_what_changes_from_one_render_to_the_next_is_rendered_per_recipient() -> None:
    source = (
        "{% load humanize %}{{ instance }}|{{ tags|random }}|{% now 'U' %}|{% lorem 3 w random %}|"
        "{% if tags %}{{ when|timesince }}{% endif %}|{{ when|naturaltime }}|"
        "{% with t=tags|random %}{{ t }}{% endwith %}"
    )
    prepared = prepare(_compiled(source), _base())
    assert prepared.text.parts[0] == "Tom & <Jerry>_1.5|"
    assert [p for p in prepared.text.parts if isinstance(p, str)] == ["Tom & <Jerry>_1.5|", "|", "|", "|", "|", "|"]


def test_a_template_with_nothing_static_is_returned_as_it_is() -> None:
    compiled = _compiled(TEMPLATES["every node varies"])
    assert prepare(compiled, _base()) is compiled


def test_html_and_channel_escaping_apply_to_values_rendered_ahead() -> None:
    source = "<b>{{ instance.title }}</b> {{ recipient.username }}"
    compiled = _compiled(source, html=source)
    base, users = _base(), _users()
    prepared = prepare(compiled, base, telegram_escape)
    _, text, html = render(prepared, ChainMap(_own(users[1]), base), telegram_escape)
    assert text == "<b>Tom & <Jerry\\>\\_1\\.5</b> bob\\_<b\\>"
    assert html == "<b>Tom &amp; &lt;Jerry&gt;_1.5</b> bob_&lt;b&gt;"
    assert prepared.html.parts[0] == "<b>Tom &amp; &lt;Jerry&gt;_1.5</b> "


def test_a_render_the_preparation_does_not_fit_renders_the_compiled_template() -> None:
    compiled = _compiled("{{ instance.title }} {{ recipient }}")
    base, user = _base(), _users()[0]
    with translation.override("en"):
        prepared = prepare(compiled, base, None)
    other = ReadOnlyContext(base, instance=Article(title="Other"))
    with translation.override("en"):
        assert render(prepared, ChainMap(_own(user), other))[1] == "Other alice"  # another notification
        assert render(prepared, ChainMap(_own(user), base), telegram_escape)[1] == "Tom & <Jerry\\>\\_1\\.5 alice"
        assert render(prepared, ChainMap({**_own(user), "instance": "X"}, base))[1] == "X alice"  # not per recipient
        assert render(prepared, {**base, **_own(user)})[1] == "Tom & <Jerry>_1.5 alice"
    with translation.override("fr"):
        prepared_fr = prepare(_compiled("{% load i18n %}{% translate 'Yes' %} {{ recipient }}"), base)
    assert prepared_fr.prepared is not None and prepared_fr.prepared.language == "fr"
    assert prepared_fr.text.parts[0] == "Oui "


class _Counted(Node):
    calls = 0
    origin = token = None

    def render(self, context: Any) -> str:
        _Counted.calls += 1
        return "static"


def test_a_thousand_recipients_render_the_static_node_once() -> None:
    compiled = _compiled("{{ instance.title }} {{ recipient.username }}")
    compiled.text.nodelist.insert(0, _Counted())
    base = _base()
    users = [get_user_model()(pk=i, username=f"u{i}") for i in range(1000)]
    _Counted.calls = 0
    plain = [render(compiled, ChainMap(_own(u), base))[1] for u in users]
    assert _Counted.calls == 1000
    _Counted.calls = 0
    prepared = prepare(compiled, base)
    got = [render(prepared, ChainMap(_own(u), base))[1] for u in users]
    assert _Counted.calls == 1
    assert got == plain and got[5] == "staticTom & <Jerry>_1.5 u5"


register = django_template.Library()
_tag_calls: list[str] = []


@register.simple_tag(takes_context=True)
def greet(context: Any) -> str:
    """A custom tag reading the recipient from the context itself."""
    _tag_calls.append("greet")
    user = context.get("recipient")
    return f"hi {user.username}" if user is not None else "hi nobody"


@register.simple_tag(takes_context=True)
def title_of(context: Any) -> str:
    _tag_calls.append("title_of")
    return str(context["instance"].title)


class _ReadsRecipient(Node):
    origin = token = None

    def render(self, context: Any) -> str:
        return "<" + context.flatten().get("address", "") + ">"


@pytest.fixture
def custom_tags(monkeypatch: pytest.MonkeyPatch) -> Any:
    engine = DjangoTemplateEngine()
    monkeypatch.setitem(engine._engine.template_libraries, "prerender_tests", register)
    _tag_calls.clear()
    return engine


def test_custom_tags_reading_the_recipient_stay_live(custom_tags: DjangoTemplateEngine) -> None:
    source = "{% load prerender_tests %}{% title_of %} {% greet %} {{ instance.title }}"
    compiled = CompiledTemplate(custom_tags, None, custom_tags.compile(source), None)
    base, users = _base(), _users()
    expected = _outputs(compiled, base, None, users)
    assert expected[0][1] == "Tom & <Jerry>_1.5 hi alice Tom & <Jerry>_1.5"
    _tag_calls.clear()
    prepared = prepare(compiled, base)
    assert _tag_calls == ["title_of", "greet"]
    _tag_calls.clear()
    assert _outputs(prepared, base, None, users) == expected
    assert _tag_calls == ["greet"] * 3  # title_of was rendered ahead
    assert prepared.text.parts[0] == "Tom & <Jerry>_1.5 "
    # {% greet %} could set names for the nodes after it (a custom tag may write to the context):
    # everything after it is rendered per recipient.
    assert [type(n).__name__ for n in _live(prepared.text)] == ["SimpleNode", "TextNode", "_EscapingVariableNode"]


class _Tally(Node):
    """Counts its renders in the render context, where {% cycle %} keeps its place."""

    origin = token = None

    def __init__(self, only_staff: bool = False) -> None:
        self.only_staff = only_staff

    def render(self, context: Any) -> str:
        if self.only_staff and not context["recipient"].is_staff:
            return "-"
        context.render_context["tally"] = context.render_context.get("tally", 0) + 1
        return str(context.render_context["tally"])


def test_nodes_sharing_render_context_state_stay_live() -> None:
    compiled = _compiled("{{ instance.title }} {{ recipient }}")
    compiled.text.nodelist[1:1] = [_Tally(), _Tally(only_staff=True), _Tally()]
    base, users = _base(), _users()
    expected = _outputs(compiled, base, None, users)
    assert [e[1] for e in expected] == [
        "Tom & <Jerry>_1.5123 alice",
        "Tom & <Jerry>_1.51-2 bob_<b>",
        "Tom & <Jerry>_1.51-2 carol*x",
    ]
    prepared = prepare(compiled, base)
    assert _outputs(prepared, base, None, users) == expected
    assert prepared.text.parts[0] == "Tom & <Jerry>_1.5" and len(_live(prepared.text)) == 5


class _Pusher(Node):
    """Leaves a layer pushed on the context (``Context.update`` does), for the nodes after it."""

    origin = token = None

    def render(self, context: Any) -> str:
        context.update({"who": context.get("instance")})
        return ""


def test_a_node_leaving_a_layer_pushed_keeps_the_nodes_after_it_live() -> None:
    compiled = _compiled("{{ verb }} [{{ who.title }}] {{ recipient }}")
    compiled.text.nodelist.insert(1, _Pusher())
    base, users = _base(), _users()
    expected = _outputs(compiled, base, None, users)
    assert expected[0][1] == "post_save [Tom & <Jerry>_1.5] alice"
    prepared = prepare(compiled, base)
    assert _outputs(prepared, base, None, users) == expected
    assert prepared.text.parts[0] == "post_save" and len(_live(prepared.text)) == 5


def test_a_node_listing_every_name_stays_live() -> None:
    compiled = _compiled("{{ instance.title }}")
    compiled.text.nodelist.append(_ReadsRecipient())  # reads the recipient's address through flatten()
    base, users = _base(), _users()
    expected = _outputs(compiled, base, None, users)
    assert expected[1][1] == "Tom & <Jerry>_1.5<b@example.com>"
    prepared = prepare(compiled, base)
    assert _outputs(prepared, base, None, users) == expected
    assert prepared.text.parts[0] == "Tom & <Jerry>_1.5" and isinstance(prepared.text.parts[1], _ReadsRecipient)


class _Boom(Node):
    def __init__(self, when: Callable[[Any], bool]) -> None:
        self.when = when
        self.origin = self.token = None  # the parser sets these on the nodes it makes

    def render(self, context: Any) -> str:
        if self.when(context):
            raise ValueError("boom")
        return "ok"


def test_a_node_that_raises_stays_live_and_fails_each_delivery_as_before() -> None:
    compiled = _compiled("{{ instance.title }} {{ recipient }}")
    compiled.text.nodelist.append(_Boom(lambda context: True))
    base, users = _base(), _users()
    expected = _outputs(compiled, base, None, users)
    prepared = prepare(compiled, base)
    assert _outputs(prepared, base, None, users) == expected == ["error: rendering failed: boom"] * 3
    assert any(isinstance(n, _Boom) for n in _live(prepared.text))


def test_a_node_that_raises_for_some_recipients_only() -> None:
    compiled = _compiled("{{ instance.title }}{% if recipient.is_staff %}{{ recipient.pk|divisibleby:0 }}{% endif %}")
    base, users = _base(), _users()
    expected = _outputs(compiled, base, None, users)
    assert expected[0] == "error: rendering failed: integer modulo by zero" and expected[1][1] == "Tom & <Jerry>_1.5"
    assert _outputs(prepare(compiled, base), base, None, users) == expected


def test_a_recipient_dependent_name_set_by_a_tag_keeps_the_nodes_after_it_live() -> None:
    compiled = _compiled("{{ instance }} {% firstof recipient.first_name 'friend' as name %}- {{ name }}")
    prepared = prepare(compiled, _base())
    assert prepared.text.parts[0] == "Tom & <Jerry>_1.5 "
    assert len(_live(prepared.text)) == 3  # firstof, the text after it, {{ name }}
    assert _outputs(prepared, _base(), None, _users())[1][1] == "Tom & <Jerry>_1.5 - friend"


def test_preparing_leaves_the_shared_context_as_it_was() -> None:
    compiled = _compiled("{% cycle 'a' 'b' as instance %}{{ recipient }}")
    base = _base()
    before = dict(base)
    prepare(compiled, base)
    assert dict(base) == before


def test_the_read_only_views_hold_for_parts_rendered_ahead() -> None:
    base = _base()
    actor = base["actor"]._dsn_wrapped
    actor.password = "s3cret-hash"
    compiled = _compiled(
        "{{ actor.password }}{{ actor.save }}{{ actor.delete }}{{ actor.set_password }}{{ actor.email_user }}"
        "[{{ instance.title }}] {{ recipient.password }}"
    )
    prepared = prepare(compiled, base)
    assert prepared.text.parts[0] == "[Tom & <Jerry>_1.5] "  # no database: save/delete were not called
    assert actor.password == "s3cret-hash"  # nor set_password
    user = _users()[0]
    user.password = "their-hash"
    assert render(prepared, ChainMap(_own(user), base))[1] == "[Tom & <Jerry>_1.5] "


def test_an_engine_without_prepare_is_rendered_as_before() -> None:
    class Upper(TemplateEngine):
        key = "upper-tests"

        def compile(self, source: str) -> Any:
            return source

        def render(self, compiled: Any, context: Any, *, escape: Any = None) -> str:
            return compiled.format_map({k: context[k] for k in ("instance", "recipient")}).upper()

    compiled = CompiledTemplate(Upper(), None, "{instance} {recipient}", None)
    base = _base()
    assert prepare(compiled, base) is compiled
    assert render(compiled, ChainMap(_own(_users()[0]), base))[1] == "TOM & <JERRY>_1.5 ALICE"


def test_the_per_recipient_names_are_those_the_sender_fills_in() -> None:
    import inspect

    from dsn_core import sending

    source = inspect.getsource(sending.build_messages)
    own = source.split("own = {", 1)[1].split("}", 1)[0]
    assert {part.split(":")[0].strip().strip('"') for part in own.split(",") if part.strip()} == PER_RECIPIENT
    assert engines._prepare.__doc__


# -- through the sender -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sender_prepares_once_per_notification_and_language(
    settings: Any,
    make_flow: Any,
    django_user_model: Any,
    dsn_outbox: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dsn_core import rendering

    settings.DSN = {**settings.DSN, "USER_LANGUAGE_ATTRIBUTE": "last_name"}  # a field holding "fr" / "de"
    users = [
        django_user_model.objects.create_user(f"u{i}", f"u{i}@example.com", last_name=language)
        for i, language in enumerate(["fr", "de", "", "fr", "de", "", "fr"])
    ]
    text = "{% load i18n %}{% translate 'Yes' %}, {{ recipient }}: {{ instance.title|upper }} {{ instance.pk|yesno }}"
    make_flow(Article, users=users, text=text, subject="{{ instance.title }} <{{ address }}>")
    calls: list[str | None] = []

    def counted(template: Any, base: Any, escape: Any = None) -> Any:
        calls.append(translation.get_language())
        return prepare(template, base, escape)

    monkeypatch.setattr(rendering, "prepare", counted)
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Tea")
    got = sorted((m.subject, m.text) for m in dsn_outbox)
    yes = {"fr": "Oui", "de": "Ja", "": "Yes"}
    yes_lower = {"fr": "oui", "de": "Ja", "": "yes"}  # as Django translates "yes,no,maybe"
    assert got == sorted(
        (f"Tea <{u.username}>", f"{yes[u.last_name]}, {u.username}: TEA {yes_lower[u.last_name]}") for u in users
    )
    assert sorted(calls, key=str) == sorted(["fr", "de", settings.LANGUAGE_CODE], key=str)  # the second of each


@pytest.mark.django_db
def test_a_template_with_nothing_to_render_ahead_is_prepared_once_per_batch(
    make_flow: Any,
    django_user_model: Any,
    dsn_outbox: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dsn_core import rendering

    users = [django_user_model.objects.create_user(f"u{i}") for i in range(4)]
    make_flow(Article, users=users, text="{{ recipient }}", subject="{{ address }}")
    calls: list[Any] = []

    def counted(template: Any, base: Any, escape: Any = None) -> Any:
        calls.append(prepare(template, base, escape))
        return calls[-1]

    monkeypatch.setattr(rendering, "prepare", counted)
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Tea")
    assert sorted((m.subject, m.text) for m in dsn_outbox) == [(u.username, u.username) for u in users]
    assert len(calls) == 1 and calls[0].prepared is None  # tried at the second recipient, found nothing
