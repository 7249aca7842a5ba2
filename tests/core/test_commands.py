"""DSN's management commands: each happy path and its errors."""

from __future__ import annotations

import json
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import CommandError

from dsn_core import hookimpl
from dsn_core.messengers import Message, Messenger, SendResult
from dsn_core.models import MessageTemplate, Notification
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

SECRET = "sekrit-token-77aa01"


def run(name: str, *args: Any) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def fails(name: str, *args: Any) -> str:
    with pytest.raises(CommandError) as info:
        run(name, *args)
    return str(info.value)


# -- a plugin whose messenger fails its checks, and one that registers a key twice -----------


class PagerMessenger(Messenger):
    key = "pager"
    label = "Pager"
    broken_settings = True

    @classmethod
    def check(cls) -> list[Any]:
        if cls.broken_settings:
            return [Error("Pager: no API key.", hint="Set DSN['PAGER']['KEY'].", id="pager.E001")]
        return [Warning("Pager: sandbox mode.", id="pager.W001")]

    def send(self, message: Message) -> SendResult:
        raise RuntimeError(f"https://pager.test/{SECRET}/send refused")


@hookimpl
def _register_pager(register: Any) -> None:
    register(PagerMessenger)


@hookimpl
def _register_console_again(register: Any) -> None:
    register(type("Console2", (Messenger,), {"key": "console", "label": "Another console"}))


pager_plugin = SimpleNamespace(register_messengers=_register_pager)
clashing_plugin = SimpleNamespace(register_messengers=_register_console_again)


# -- dsn_plugins ---------------------------------------------------------------------------


def test_dsn_plugins_lists_the_core_plugin():
    text = run("dsn_plugins")
    assert "dsn_core  (dsn-core 0.3.0)  OK" in text
    assert "messengers: console, locmem" in text and "engines: django" in text
    assert "resolvers: superusers" in text and "register_signals" in text
    report = json.loads(run("dsn_plugins", "dsn_core", "--json"))
    assert [p["name"] for p in report] == ["dsn_core"]
    assert report[0]["registered"]["signals"][:2] == ["pre_save", "post_save"]
    assert report[0]["status"] == "ok"
    run("dsn_plugins", "dsn_core", "--check")  # healthy: no error


def test_dsn_plugins_reports_an_unconfigured_plugin_as_manage_py_check_does(dsn_plugin):
    """No DSN["PAGER"] section at all: one warning (dsn.W002), not the plugin's own errors."""
    dsn_plugin("pager", pager_plugin)
    text = run("dsn_plugins", "pager")
    assert "pager  (pager test)  WARNINGS" in text
    assert "warning dsn.W002: DSN messenger 'pager' is installed but settings.DSN['PAGER'] is not configured" in text
    run("dsn_plugins", "pager", "--check")  # the site may start; so may a deploy script


def test_dsn_plugins_reports_failing_checks_and_clashes(dsn_plugin, settings):
    settings.DSN = {**settings.DSN, "PAGER": {}}  # configured, wrongly
    dsn_plugin("pager", pager_plugin)
    dsn_plugin("clash", clashing_plugin)
    text = run("dsn_plugins")
    assert "pager  (pager test)  ERRORS" in text
    assert "error pager.E001: Pager: no API key. (hint: Set DSN['PAGER']['KEY'].)" in text
    assert "BROKEN" in text and "problem: messenger key 'console' is already registered by " in text
    assert fails("dsn_plugins", "pager", "--check") == "1 DSN plugin(s) with problems: pager."
    assert "pager" in fails("dsn_plugins", "--check")
    PagerMessenger.broken_settings = False
    try:
        report = json.loads(run("dsn_plugins", "pager", "--json"))
        assert report[0]["status"] == "warnings" and report[0]["checks"][0]["id"] == "pager.W001"
        run("dsn_plugins", "pager", "--check")
    finally:
        PagerMessenger.broken_settings = True


def test_dsn_plugins_blames_the_plugin_that_registers_a_taken_key(dsn_plugin):
    dsn_plugin("clash", clashing_plugin)
    text = run("dsn_plugins", "clash", "dsn_core")
    assert "clash  (clash test)  BROKEN" in text
    assert "problem: messenger key 'console' is already registered by dsn-core; ignored" in text


def test_dsn_plugins_unknown_name():
    assert "No DSN plugin named nope; installed: " in fails("dsn_plugins", "nope")


# -- dsn_fire ------------------------------------------------------------------------------


def test_dsn_fire_runs_a_flow(make_flow, admin_user, dsn_outbox, django_capture_on_commit_callbacks):
    make_flow(
        Article,
        users=[admin_user],
        text="{{ verb }} {{ instance }} by {{ actor }} on {{ target }} {{ why }}",
        conditions=[{"op": "created"}],
        target="launch",
    )
    article = Article.objects.create(title="Rocket")  # no trigger fires: created, but no target
    assert Notification.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        out = run(
            "dsn_fire",
            "post_save",
            "--model",
            "testapp.article",
            "--pk",
            str(article.pk),
            "--actor-pk",
            str(admin_user.pk),
            "--target",
            "launch",
            "--kw",
            "created=true",
            "--kw",
            "why=test",
        )
    assert "Sent post_save; 1 notification(s) created" in out
    assert [m.text for m in dsn_outbox] == ["post_save Rocket by admin on launch test"]
    out = run("dsn_fire", "post_save", "--model", "testapp.article", "--pk", str(article.pk), "--target", "launch")
    assert "no enabled trigger matched" in out  # created defaults to false
    assert Notification.objects.count() == 1


def test_dsn_fire_a_non_model_verb(make_flow, admin_user, dsn_outbox, django_capture_on_commit_callbacks):
    make_flow(type(admin_user), verb="user_logged_in", users=[admin_user], text="{{ instance }} logged in")
    with django_capture_on_commit_callbacks(execute=True):
        run(
            "dsn_fire",
            "user_logged_in",
            "--model",
            "auth.user",
            "--pk",
            str(admin_user.pk),
            "--actor-pk",
            str(admin_user.pk),
            "--kw",
            "request=null",
        )
    assert [m.text for m in dsn_outbox] == ["admin logged in"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["order_paid"], "No verb 'order_paid' is registered; registered verbs: m2m_changed, post_delete"),
        (["post_save", "--model", "nope.thing", "--pk", "1"], "--model: no installed model 'nope.thing'"),
        (["post_save", "--model", "article", "--pk", "1"], "--model: no installed model 'article'"),
        (["post_save", "--pk", "1"], "--pk needs --model."),
        (["post_save", "--model", "testapp.article", "--pk", "999"], "--pk: No article with id 999."),
        (["post_save", "--model", "testapp.article", "--pk", "abc"], "--pk: No article with id abc."),
        (["post_save", "--model", "testapp.article"], "post_save is a model signal: give --model and --pk."),
        (["post_save", "--model", "testapp.article", "--pk", "{pk}", "--kw", "created"], "--kw takes key=value"),
        (["post_save", "--model", "testapp.article", "--pk", "{pk}", "--kw", "a b=1"], "--kw takes key=value"),
        (["post_save", "--model", "testapp.article", "--pk", "{pk}", "--actor-pk", "999"], "--actor-pk: No user"),
        (
            ["post_save", "--model", "testapp.article", "--pk", "{pk}", "--actor-model", "x.y", "--actor-pk", "1"],
            "--actor-model: no installed model 'x.y'",
        ),
        (["user_login_failed", "--model", "auth.user", "--pk", "{user}"], "user_login_failed takes no action object"),
    ],
)
def test_dsn_fire_errors(args, expected, admin_user):
    article = Article.objects.create(title="x")
    args = [a.format(pk=article.pk, user=admin_user.pk) for a in args]
    assert expected in fails("dsn_fire", *args)


def test_dsn_fire_reports_a_receiver_that_raises():
    from django.db.models.signals import post_save

    def broken(sender: Any, **kwargs: Any) -> None:
        raise ValueError("app receiver bug")

    article = Article.objects.create(title="x")
    post_save.connect(broken, sender=Article)
    try:
        message = fails("dsn_fire", "post_save", "--model", "testapp.article", "--pk", str(article.pk))
    finally:
        post_save.disconnect(broken, sender=Article)
    assert message == "A receiver of post_save raised ValueError: app receiver bug"


# -- dsn_render ----------------------------------------------------------------------------


def _template(
    name: str = "welcome", text: str = "{{ instance.title }} for {{ recipient }} ({{ address }})", html: str = ""
) -> MessageTemplate:
    return MessageTemplate.objects.create(name=name, subject="About {{ instance }}", text=text, html=html)


def test_dsn_render_by_id_and_by_name(admin_user):
    template = _template(html="<b>{{ instance.title }}</b>")
    article = Article.objects.create(title="Fish & Chips")
    out = run(
        "dsn_render",
        str(template.pk),
        "--model",
        "testapp.article",
        "--pk",
        str(article.pk),
        "--user",
        "admin",
        "--address",
        "admin@example.com",
    )
    assert out == (
        "Subject: About Fish & Chips\n\nFish & Chips for admin (admin@example.com)\n"
        "\n--- HTML ---\n<b>Fish &amp; Chips</b>\n"
    )
    out = run("dsn_render", "welcome", "--verb", "pre_delete", "--kw", 'reason="spam"')
    assert out.startswith("Subject: About None\n\n for None ()")


def test_dsn_render_with_extra_kwargs_and_verb(admin_user):
    _template(name="kw", text="{{ verb }}: {{ reason }} / {{ kwargs.count }}")
    assert run("dsn_render", "kw", "--verb", "post_delete", "--kw", "reason=spam", "--kw", "count=3") == (
        "Subject: About None\n\npost_delete: spam / 3\n"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nothing"], "No message template with id or name 'nothing'."),
        (["4242"], "No message template with id or name '4242'."),
        (["twins"], "Several message templates are named 'twins' (ids "),
        (["welcome", "--user", "ghost"], "--user: no user 'ghost'."),
        (["welcome", "--model", "testapp.article"], "--model needs --pk."),
        (["welcome", "--pk", "1"], "--pk needs --model."),
        (["welcome", "--model", "testapp.article", "--pk", "77"], "--pk: No article with id 77."),
        (["welcome", "--verb", "order_paid"], "--verb: no verb 'order_paid' is registered"),
        (["welcome", "--messenger", "pigeon"], "--messenger: no messenger 'pigeon' is installed."),
        (["bad-url"], "Template 'bad-url' (#"),
        (["bad-syntax"], "line 2:"),
    ],
)
def test_dsn_render_errors(args, expected):
    _template()
    _template(name="twins")
    _template(name="twins")
    _template(name="bad-url", text="{% url 'nowhere' %}")
    _template(name="bad-syntax", text="ok\n{% endif %}")  # saved without clean(), as a migration might
    assert expected in fails("dsn_render", *args)


# -- dsn_test_send -------------------------------------------------------------------------


def test_dsn_test_send_through_console_and_locmem(capsys, dsn_outbox):
    out = run("dsn_test_send", "console", "alice", "hello there", "--subject", "Greetings")
    assert "Console (print) to alice: accepted" in out
    printed = capsys.readouterr()
    assert "[DSN console] to alice\nSubject: Greetings\nhello there" in printed.out
    run("dsn_test_send", "console", "bob", "to stderr", "--option", "stream=stderr")
    assert "[DSN console] to bob" in capsys.readouterr().err
    out = run("dsn_test_send", "locmem", "carol", "hi", "--html", "<p>hi</p>")
    assert out.strip().endswith("accepted (provider id locmem-1)")
    assert [(m.address, m.subject, m.text, m.html) for m in dsn_outbox] == [("carol", "DSN test", "hi", "<p>hi</p>")]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["pigeon", "alice", "hi"], "No messenger 'pigeon' is installed; installed: "),
        (["console", "alice", "hi", "--option", "colour=red"], "--option: Unknown option(s) colour for console"),
        (["console", "alice", "hi", "--option", "stream=stdin"], "must be one of stdout, stderr"),
        (["console", "alice", "hi", "--option", "stream"], "--option takes key=value"),
        (["console", "   ", "hi"], "Bad address for console: An address cannot be empty."),
        (
            ["locmem", "alice", "hi", "--option", "fail=permanent"],
            "Local memory (tests) to alice: permanent failure: locmem: asked to fail (permanent)",
        ),
        (["locmem", "alice", "hi", "--option", "fail=transient"], "temporary failure: locmem: asked to fail"),
    ],
)
def test_dsn_test_send_errors(args, expected, dsn_outbox):
    assert expected in fails("dsn_test_send", *args)
    assert dsn_outbox == []


def test_dsn_test_send_redacts_secrets_from_unexpected_errors(dsn_plugin, settings):
    settings.DSN = {**settings.DSN, "PAGER": {"KEY": SECRET}}
    dsn_plugin("pager", pager_plugin)
    message = fails("dsn_test_send", "pager", "555", "hi")
    assert message == "Pager to 555: temporary failure: RuntimeError: https://pager.test/***/send refused"
