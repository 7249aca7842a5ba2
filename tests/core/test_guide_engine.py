"""The plugin guide's template engine (Jinja2 in its sandbox), taken out of the guide itself
and used as a site would: chosen by ``MessageTemplate.engine``, checked when saved, rendered
for a real event, its sandbox holding."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from django.core.exceptions import ValidationError

from dsn_core import plugins
from dsn_core.api import TemplateError
from dsn_core.rendering import compile_template_fields
from tests import guide

pytest.importorskip("jinja2")


@pytest.fixture
def jinja(tmp_path: Path, dsn_plugin, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    written = guide.write(tmp_path, distribution="dsn-jinja")
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        "pyproject.toml",
        "dsn_jinja/__init__.py",
        "dsn_jinja/engine.py",
        "dsn_jinja/plugin.py",
    }
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin = importlib.import_module("dsn_jinja.plugin")
    dsn_plugin("jinja", plugin)
    yield importlib.import_module("dsn_jinja.engine")
    for name in [m for m in sys.modules if m.startswith("dsn_jinja")]:
        del sys.modules[name]


def _template(**fields: str):
    from dsn_core.models import MessageTemplate

    return MessageTemplate(name="t", engine="jinja", **fields)


def test_registered_as_a_class_like_a_messenger(jinja: ModuleType) -> None:
    engine = plugins.get_engine("jinja")
    assert type(engine) is jinja.JinjaEngine
    assert ("jinja", "Jinja2 (sandboxed)") in plugins.engine_choices()
    assert plugins.registry().plugins["jinja"].registered == {"engines": ["jinja"]}


def test_syntax_errors_name_the_field_and_line(jinja: ModuleType) -> None:
    with pytest.raises(ValidationError) as info:
        compile_template_fields(_template(subject="Hi", text="Hello\n{% if %}\n{% endif %}"))
    assert set(info.value.message_dict) == {"text"}
    assert info.value.message_dict["text"][0].startswith("line 2: ")
    with pytest.raises(TemplateError) as error:
        plugins.get_engine("jinja").compile("{{ unclosed")
    assert error.value.line == 1


class _Row:
    deleted = False

    def delete(self) -> None:
        type(self).deleted = True

    delete.alters_data = True  # type: ignore[attr-defined]  # Django marks data-altering methods so


@pytest.mark.parametrize("source", ["{{ ''.__class__.__mro__ }}", "{{ items.append(4) }}", "{{ row.delete() }}"])
def test_the_sandbox_refuses_unsafe_access(jinja: ModuleType, source: str) -> None:
    engine = plugins.get_engine("jinja")
    items = [1, 2]
    with pytest.raises(TemplateError, match="not allowed in a template"):
        engine.render(engine.compile(source), {"items": items, "row": _Row()})
    assert items == [1, 2] and not _Row.deleted


def test_escape_applies_to_values_not_to_the_template(jinja: ModuleType) -> None:
    from markupsafe import Markup

    engine = plugins.get_engine("jinja")
    compiled = engine.compile("*{{ name }}* {{ safe }} {{ missing }}.")
    escape = lambda value: value.replace("*", "\\*")  # noqa: E731
    assert engine.render(compiled, {"name": "a*b", "safe": Markup("c*d")}, escape=escape) == "*a\\*b* c*d ."
    assert engine.render(compiled, {"name": "a*b", "safe": "c"}) == "*a*b* c ."


@pytest.mark.django_db
def test_a_real_event_renders_through_the_engine(jinja: ModuleType, dsn_outbox, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType

    from dsn_core.models import Backend, Delivery, MessageTemplate, Subscription, Trigger
    from dsn_core.testing import flush

    ann = User.objects.create_user("ann", email="ann@example.com")
    trigger = Trigger.objects.create(
        name="new user", verb="post_save", action_object_type=ContentType.objects.get_for_model(User)
    )
    template = MessageTemplate(
        name="welcome",
        engine="jinja",
        subject="Hi {{ recipient.username }}",
        text="{{ instance.username|upper }} joined{% if instance.email %} ({{ instance.email }}){% endif %}.",
    )
    template.full_clean()
    template.save()
    subscription = Subscription.objects.create(trigger=trigger)
    subscription.backends.add(Backend.objects.create(name="mem", messenger="locmem", template=template))
    subscription.receiver_users.add(ann)
    with django_capture_on_commit_callbacks(execute=True):
        User.objects.create_user("bob", email="bob@example.com")
    flush()
    assert Delivery.objects.get().status == "sent"
    [message] = dsn_outbox
    assert (message.subject, message.text) == ("Hi ann", "BOB joined (bob@example.com).")


@pytest.mark.django_db
def test_a_render_error_is_a_dead_delivery_with_the_reason(jinja: ModuleType, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType

    from dsn_core.models import Backend, Delivery, MessageTemplate, Subscription, Trigger
    from dsn_core.testing import flush

    ann = User.objects.create_user("ann")
    trigger = Trigger.objects.create(
        name="new user", verb="post_save", action_object_type=ContentType.objects.get_for_model(User)
    )
    template = MessageTemplate.objects.create(name="bad", engine="jinja", text="{{ 1 / 0 }}")
    subscription = Subscription.objects.create(trigger=trigger)
    subscription.backends.add(Backend.objects.create(name="mem", messenger="locmem", template=template))
    subscription.receiver_users.add(ann)
    with django_capture_on_commit_callbacks(execute=True):
        User.objects.create_user("bob")
    flush()
    delivery = Delivery.objects.get()
    assert delivery.status == "dead" and "ZeroDivisionError" in delivery.last_error
