"""A template sees only what its recipient may see: every known secret path renders nothing secret.

Every render goes through :func:`dsn_core.rendering.render` (send, admin preview, test send,
``dsn_render``), which puts each context value behind :mod:`dsn_core.readonly`'s views. These
tests try each known way to a secret — the recipient's and related users' password hashes, API
keys and tokens on related rows, reverse relations, DSN's own tables, ``settings``, writing
methods — with Django's engine and with an engine that reaches anything and calls anything.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.core.management import call_command

from dsn_core import rendering
from dsn_core.engines import TemplateEngine
from dsn_core.models import Address, Delivery, MessageTemplate, Notification, OptOut
from dsn_core.readonly import ModelView, view
from dsn_core.receivers import Event
from dsn_core.redaction import is_secret_name
from tests.testapp.models import ApiAccount, Article, Team

pytestmark = pytest.mark.django_db

OWNER_PW, RECIPIENT_PW = "owner-pw-Xq81", "recipient-pw-Zr27"
API_KEY, OTP_SECRET, AUTH_TOKEN, PW_HASH = "ak-51e0c4", "otps-7d2b9a", "tok-c3f1e8", "ph-0a9b8c"
ACCESS_TOKEN = "xat-4e4e4e"
OTHER_ADDRESS = "+15550001234"  # someone else's address: DSN's own tables stay out of reach


@pytest.fixture
def world(django_user_model: Any) -> dict[str, Any]:
    owner = django_user_model.objects.create_user("owner", "owner@example.com", OWNER_PW)
    recipient = django_user_model.objects.create_user("rita", "rita@example.com", RECIPIENT_PW)
    other = django_user_model.objects.create_user("other", "other@example.com", "other-pw-Kk55")
    group = Group.objects.create(name="editors")
    for user in (owner, recipient, other):
        user.groups.add(group)
    team = Team.objects.create(name="blue")
    team.members.add(owner, recipient, other)
    article = Article.objects.create(title="Hello", owner=owner, team=team)
    ApiAccount.objects.create(
        user=owner,
        name="main",
        api_key=API_KEY,
        otp_secret=OTP_SECRET,
        auth_token=AUTH_TOKEN,
        pw_hash=PW_HASH,
        extra_data={"access_token": ACCESS_TOKEN, "plan": "pro"},
    )
    Address.objects.create(user=other, messenger="sms", address=OTHER_ADDRESS)
    OptOut.objects.create(user=recipient, messenger="sms")
    notification = Notification.objects.create(verb="post_save", context={})
    Delivery.objects.create(notification=notification, address=OTHER_ADDRESS, recipient=other, messenger="sms")
    secrets = [
        OWNER_PW,
        RECIPIENT_PW,
        API_KEY,
        OTP_SECRET,
        AUTH_TOKEN,
        PW_HASH,
        ACCESS_TOKEN,
        OTHER_ADDRESS,
        django_settings.SECRET_KEY,
    ]
    for user in (owner, recipient, other):
        user.refresh_from_db()
        secrets += [user.password, user.password.split("$")[-1], user.get_session_auth_hash()]
    return {
        "owner": owner,
        "recipient": recipient,
        "article": article,
        "notification": notification,
        "secrets": secrets,
    }


def context_for(world: dict[str, Any]) -> dict[str, Any]:
    """The context every render builds: the shared part, then the recipient's own values."""
    event = Event(
        verb="post_save",
        action_object=world["article"],
        actor=world["owner"],
        kwargs={"by": world["owner"], "extra": {"who": world["owner"]}},
    )
    context = rendering.base_context(event, world["notification"], None)
    context.update(recipient=world["recipient"], address="rita@example.com", unsubscribe_url="")
    return context


#: Template paths that lead to a secret (or into DSN's own tables) when nothing stands in the way.
SECRET_PATHS = [
    "recipient.password",
    "recipient.get_session_auth_hash",
    "recipient.natural_key",
    "recipient.check_password",
    "recipient.has_usable_password",
    "recipient.set_password",
    "recipient.set_unusable_password",
    "recipient.get_session_auth_fallback_hash",
    "instance.owner.password",
    "action_object.owner.password",
    "actor.password",
    "by.password",
    "kwargs.by.password",
    "extra.who.password",
    "kwargs.extra.who.password",
    "instance.owner.get_session_auth_hash",
    "instance.owner.natural_key",
    "recipient.groups.all.0.user_set.all.0.password",
    "recipient.groups.all.0.user_set.all.1.password",
    "recipient.groups.first.user_set.last.password",
    "recipient.teams.all.0.members.all.0.password",
    "instance.team.members.first.password",
    "instance.team.members.all",
    "instance.owner.api_accounts.all.0.api_key",
    "instance.owner.api_accounts.first.otp_secret",
    "instance.owner.api_accounts.first.auth_token",
    "instance.owner.api_accounts.first.pw_hash",
    "instance.owner.api_accounts.first.extra_data",
    "instance.owner.api_accounts.first.extra_data.access_token",
    "instance.owner.api_accounts.all",
    "instance.owner.api_accounts.first.user.password",
    "recipient.dsn_addresses.all",
    "recipient.dsn_opt_outs.all",
    "recipient.dsn_deliveries.all",
    "recipient.dsn_subscriptions.all",
    "recipient.groups.first.user_set.last.dsn_addresses.first.address",
    "instance.owner.groups.first.user_set.all.2.dsn_deliveries.first.address",
    "notification.deliveries.all",
    "notification.deliveries.first.address",
    "notification.deliveries.first.recipient",
    "notification.trigger",
    "settings.SECRET_KEY",
    "settings",
    "instance.owner.groups.first.dsn_subscriptions.all",
]

#: Loops over reverse relations and querysets, each printing what a row shows.
LOOPS = [
    "{% for u in recipient.groups.first.user_set.all %}{{ u.password }}{{ u.username }}{% endfor %}",
    "{% for u in instance.team.members.all %}{{ u.password }}{{ u.get_session_auth_hash }}{% endfor %}",
    "{% for a in instance.owner.api_accounts.all %}{{ a.api_key }}{{ a.extra_data }}{{ a.greeting }}{% endfor %}",
    "{% for k, v in instance.owner.api_accounts.first.extra_data.items %}{{ k }}={{ v }}{% endfor %}",
    "{% for u in recipient.groups.first.user_set.all %}{% for a in u.dsn_addresses.all %}{{ a }}"
    "{% endfor %}{% endfor %}",
    "{% for d in notification.deliveries.all %}{{ d.address }}{% endfor %}",
    "{% with p=recipient.password %}{{ p }}{% endwith %}{% firstof instance.owner.password 'none' %}",
    "{{ instance.owner.password|default:'none' }}{{ recipient.password|length }}{{ recipient|stringformat:'r' }}",
]


def render_django(source: str, context: Any) -> str:
    engine = rendering._engine("django")
    compiled = rendering.CompiledTemplate(engine, None, engine.compile(source), None)
    return rendering.render(compiled, context)[1]


def leaked(output: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s and s in output]


def test_every_known_secret_path_renders_nothing_secret(world: dict[str, Any]) -> None:
    context = context_for(world)
    tried = 0
    for path in SECRET_PATHS:
        output = render_django("{{ " + path + " }}", context)
        assert not leaked(output, world["secrets"]), f"{{{{ {path} }}}} leaked: {output!r}"
        tried += 1
    for source in LOOPS:
        output = render_django(source, context)
        assert not leaked(output, world["secrets"]), f"{source} leaked: {output!r}"
        tried += 1
    assert tried == len(SECRET_PATHS) + len(LOOPS) > 50
    # What is not secret still reads: the views hide, they do not blank everything.
    shown = render_django(
        "{{ recipient.username }}|{{ instance.owner.email }}|{{ instance.team }}|"
        "{% for u in instance.team.members.all %}{{ u.username }},{% endfor %}|"
        "{{ instance.owner.api_accounts.first.greeting }}|{{ instance.owner.api_accounts.first.extra_data.plan }}|"
        "{{ instance.owner.get_full_name|default:'-' }}|{{ recipient.groups.first }}|{{ instance.price }}|"
        "{% if instance.owner == actor %}same{% endif %}|{{ notification.verb }}|{{ recipient.pk }}",
        context,
    )
    assert shown == (
        f"rita|owner@example.com|blue|owner,rita,other,|hello from main|pro|-|editors|0|same|"
        f"post_save|{world['recipient'].pk}"
    )


def test_writing_methods_are_not_called_by_django_templates(world: dict[str, Any]) -> None:
    """``set_password`` and friends are not ``alters_data``: Django alone would call them."""
    context = context_for(world)
    render_django(
        "{{ recipient.set_unusable_password }}{{ instance.owner.api_accounts.first.deactivate }}"
        "{{ instance.owner.set_unusable_password }}",
        context,
    )
    world["recipient"].refresh_from_db()
    assert world["recipient"].check_password(RECIPIENT_PW)
    assert ApiAccount.objects.get().active


class ReachAnything(TemplateEngine):
    """An engine with one rule only: ``{{ a.b.0.c }}`` walks getattr / index and calls every
    callable it meets (no ``alters_data`` check, arguments aside), as a careless plugin engine
    could. Its one rule is the one every engine must keep (Django's language and Jinja's
    sandbox do): no name starting with ``_`` (no view can guard ``"".__class__``)."""

    key = "reach-anything"
    label = "Reach anything (tests)"

    def compile(self, source: str) -> Any:
        return source

    def render(self, compiled: Any, context: Any, *, escape: Any = None) -> str:
        def resolve(match: re.Match[str]) -> str:
            first, *rest = match.group(1).split(".")
            try:
                value = context[first]
                for part in rest:
                    if part.startswith("_"):
                        raise AttributeError(part)
                    value = value[int(part)] if part.isdigit() else getattr(value, part)
                    if callable(value) and not isinstance(value, type):
                        value = value()
                return str(value)
            except Exception as exc:  # the path is closed: show why, never the value
                return f"<{type(exc).__name__}>"

        return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", resolve, compiled)


ENGINE_PATHS = [
    *SECRET_PATHS,
    "instance.save",
    "instance.delete",
    "instance.refresh_from_db",
    "instance.full_clean",
    "instance.save_base",
    "instance.owner.save",
    "instance.owner.delete",
    "instance.owner.set_unusable_password",
    "instance.owner.email_user",
    "instance.owner.api_accounts.first.deactivate",
    "instance.owner.api_accounts.all.delete",
    "instance.owner.api_accounts.update",
    "instance.owner.api_accounts.create",
    "instance.owner.api_accounts.get_or_create",
    "recipient.groups.clear",
    "recipient.groups.all.delete",
    "instance.team.members.clear",
    "instance.team.members.all.0.delete",
    "recipient.groups.first.user_set.clear",
    "recipient.groups.first.delete",
    "instance.owner.api_accounts.first.user.groups.clear",
    "recipient.groups.model",
    "recipient.groups.through",
    "recipient.groups.all.query",
    "recipient.groups.all.model.objects",
    "recipient.groups.all.update",
    "instance.team.members.all.0.teams.all.0.delete",
    "instance.owner.groups.first.permissions.clear",
    "notification.delete",
    "notification.deliveries.all.delete",
    "instance.owner.api_accounts.first.extra_data.clear",
    "kwargs.clear",
    "extra.clear",
    "kwargs.by.save",
    "by.delete",
    "site.delete",
    "address.upper",
    "instance.owner.api_accounts.first.user.api_accounts.all.delete",
    "recipient.groups.first.user_set.all.delete",
]


def test_an_engine_that_reaches_anything_still_reaches_no_secret_and_writes_nothing(world: dict[str, Any]) -> None:
    engine = ReachAnything()
    context = context_for(world)
    before = (
        Article.objects.count(),
        ApiAccount.objects.filter(active=True).count(),
        Group.objects.count(),
        world["article"].team.members.count(),
        world["recipient"].groups.count(),
        Delivery.objects.count(),
    )
    for path in ENGINE_PATHS:
        compiled = rendering.CompiledTemplate(engine, None, "{{ " + path + " }}", None)
        output = rendering.render(compiled, context)[1]
        assert not leaked(output, world["secrets"]), f"{path} leaked: {output!r}"
    after = (
        Article.objects.count(),
        ApiAccount.objects.filter(active=True).count(),
        Group.objects.count(),
        world["article"].team.members.count(),
        world["recipient"].groups.count(),
        Delivery.objects.count(),
    )
    assert after == before
    for user in (world["owner"], world["recipient"]):
        user.refresh_from_db()
    assert world["owner"].check_password(OWNER_PW) and world["recipient"].check_password(RECIPIENT_PW)
    assert Article.objects.get().title == "Hello"
    # ... while ordinary paths still read.
    compiled = rendering.CompiledTemplate(
        engine,
        None,
        "{{ instance.owner.username }} {{ recipient.groups.first }} {{ instance.owner.api_accounts.first.greeting }}",
        None,
    )
    assert rendering.render(compiled, context)[1] == "owner editors hello from main"


def test_a_plain_dict_context_is_made_read_only_too(world: dict[str, Any]) -> None:
    """Whoever calls render() with raw objects (a plain dict, a ChainMap) gets the same views."""
    from collections import ChainMap

    raw = {"recipient": world["recipient"], "instance": world["article"]}
    assert render_django("{{ recipient.password }}{{ instance.owner.password }}", raw) == ""
    chained = ChainMap({"recipient": world["recipient"]}, rendering.base_context(Event(verb="x"), None, None))
    assert render_django("{{ recipient.password }}|{{ recipient.username }}", chained) == "|rita"


def test_pipeline_preview_and_dsn_render_hide_secrets(
    world: dict[str, Any], make_flow: Any, dsn_flush: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The sending loop and ``dsn_render`` (the admin preview's render_for) render through the views."""
    from io import StringIO

    from dsn_core.builtins import outbox

    source = "[{{ recipient.password }}][{{ instance.owner.password }}][{{ actor.password }}]{{ recipient.username }}"
    make_flow(Article, users=[world["recipient"]], text=source)
    outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Second", owner=world["owner"])
    dsn_flush()
    assert [m.text for m in outbox] == ["[][][]rita"]

    template = MessageTemplate.objects.get(name="tpl")
    out = StringIO()
    call_command(
        "dsn_render",
        str(template.pk),
        "--model",
        "testapp.article",
        "--pk",
        str(world["article"].pk),
        "--user",
        "rita",
        stdout=out,
    )
    assert "[][][]rita" in out.getvalue()
    assert not leaked(out.getvalue(), world["secrets"])


def test_secret_names() -> None:
    for name in (
        "password",
        "api_key",
        "apiKey",
        "APIKEY",
        "otp_secret",
        "totp",
        "pw_hash",
        "auth_token",
        "session_key",
        "client_secret",
        "refresh_tokens",
        "passwordHash",
        "pin",
    ):
        assert is_secret_name(name), name
    for name in ("username", "email", "keyword", "hashtag", "title", "pk", "groups", "extra_data", "footprint"):
        assert not is_secret_name(name), name


def test_secret_words_extend_by_setting(world: dict[str, Any], settings: Any) -> None:
    context = context_for(world)
    assert render_django("{{ instance.owner.email }}", context) == "owner@example.com"
    settings.DSN = {**settings.DSN, "SECRET_FIELD_WORDS": ["email"]}
    assert render_django("{{ instance.owner.email }}", context) == ""
    assert is_secret_name("backup_email")


def test_views_read_only_and_compare_like_what_they_wrap(world: dict[str, Any]) -> None:
    shown = view(world["owner"])
    assert isinstance(shown, ModelView) and shown == world["owner"] and hash(shown) == hash(world["owner"])
    assert str(shown) == "owner"
    with pytest.raises(AttributeError):
        shown.username = "x"
    with pytest.raises(AttributeError):
        shown.password  # noqa: B018
