"""Rendering message templates: compile when saved, render per recipient.

The context a template sees (documented in docs/user-guide.md):

``verb``, ``instance`` / ``action_object``, ``actor``, ``target``, every other signal
keyword argument by name and all of them as ``kwargs``, ``recipient`` (the user, or
``None`` for a fixed address), ``address``, ``site`` (the current Site when
``django.contrib.sites`` is installed, else ``None``), ``notification`` and
``unsubscribe_url``.

Every value reaches the template through a read-only view (:mod:`dsn_core.readonly`):
no secret-named field, nothing that writes, nothing of DSN's own tables. :func:`render`
guarantees it for every caller, whatever mapping it is given.

Only :data:`PER_RECIPIENT` names differ between the recipients of one notification, so a
sender renders ahead, once per notification, language and escape, what does not depend on
them (:func:`prepare`), and :func:`render` fills in the rest per recipient.
"""

from __future__ import annotations

import threading
from collections import ChainMap, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import translation

from .errors import TemplateError
from .readonly import ReadOnlyContext
from .receivers import Event

FIELDS = ("subject", "text", "html")

#: The names of the context that differ from one recipient of a notification to the next (the
#: layer a sender puts over :func:`base_context`); every other name is the notification's.
PER_RECIPIENT = frozenset({"recipient", "address", "unsubscribe_url"})


@dataclass(frozen=True)
class Preparation:
    """What a prepared :class:`CompiledTemplate` was prepared for (see :func:`prepare`)."""

    #: The template as compiled, rendered instead when a render does not match the rest.
    origin: CompiledTemplate
    #: The shared context (the very object) the fields were rendered ahead against.
    base: Mapping[str, Any]
    #: The escape function of the ``text`` field, and the language active while preparing.
    escape: Callable[[str], str] | None
    language: str | None


@dataclass(frozen=True)
class CompiledTemplate:
    engine: Any
    subject: Any
    text: Any
    html: Any
    #: Names the sources mention, roughly (used to skip work no template needs).
    mentions_unsubscribe: bool = False
    #: Set on what :func:`prepare` returns: its fields have parts rendered ahead.
    prepared: Preparation | None = None


def _engine(key: str) -> Any:
    from .plugins import get_engine

    engine = get_engine(key)
    if engine is None:
        raise TemplateError(f"template engine {key!r} is not installed")
    return engine


def compile_template_fields(template: Any) -> CompiledTemplate:
    """Compile every field of a MessageTemplate; ``ValidationError`` per field with the line."""
    try:
        engine = _engine(template.engine)
    except TemplateError as exc:
        raise ValidationError({"engine": str(exc)}) from exc
    compiled: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in FIELDS:
        source = getattr(template, name) or ""
        try:
            compiled[name] = engine.compile(source) if source else None
        except TemplateError as exc:
            errors[name] = str(exc)
    if errors:
        raise ValidationError(errors)
    mentions = any("unsubscribe_url" in (getattr(template, name) or "") for name in FIELDS)
    return CompiledTemplate(engine, compiled["subject"], compiled["text"], compiled["html"], mentions)


_cache: OrderedDict[tuple[Any, ...], CompiledTemplate] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 256


def compiled(template: Any) -> CompiledTemplate:
    """The compiled template, cached per (pk, updated_at)."""
    key = (template.pk, template.updated_at, template.engine)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    try:
        result = compile_template_fields(template)
    except ValidationError as exc:
        raise TemplateError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def current_site() -> Any:
    if not apps.is_installed("django.contrib.sites"):
        return None
    from django.contrib.sites.models import Site

    try:
        return Site.objects.get_current()
    except Exception:
        return None


def base_context(event: Event, notification: Any = None, site: Any = None) -> ReadOnlyContext:
    """The part of the context shared by every recipient of one notification (read-only views)."""
    context = ReadOnlyContext(event.kwargs)
    context.update(
        verb=event.verb,
        instance=event.action_object,
        action_object=event.action_object,
        actor=event.actor,
        target=event.target,
        kwargs=event.kwargs,
        notification=notification,
        site=site,
    )
    # preferences_url: the end users' preferences page, linked beside unsubscribe_url (issue 9 item 8).
    from .unsubscribe import preferences_url

    context["preferences_url"] = preferences_url()
    if notification is not None and "digest" in notification.context:  # one message for many events
        from .orchestration.digests import digest_context

        context.update(digest_context(notification.context["digest"], site))
    return context


def render(
    template: CompiledTemplate,
    context: Mapping[str, Any],
    escape: Callable[[str], str] | None = None,
) -> tuple[str, str, str]:
    """Render (subject, text, html). HTML always escapes substituted values for HTML.

    Each layer of ``context`` (a mapping, or a ``ChainMap`` of them) that is not a
    :class:`~dsn_core.readonly.ReadOnlyContext` is copied into one first, so the template sees
    read-only views only, whoever calls.

    A template from :func:`prepare` is used only for what it was prepared for: ``context`` a
    ``ChainMap(own, base)`` with that very ``base``, ``own`` holding :data:`PER_RECIPIENT`
    names only, and the same ``escape``; otherwise the template as compiled is rendered, so
    such a mismatch costs time, never a wrong message. The active language is not checked
    (asking for it costs a tenth of a prepared render): render under the language the template
    was prepared in (``template.prepared.language``), as :func:`dsn_core.sending.build_messages`
    does by keeping one prepared template per language.
    """
    from django.utils.html import escape as html_escape

    preparation = template.prepared
    if preparation is not None and not _fits(preparation, context, escape):
        template = preparation.origin
    context = read_only(context)
    engine = template.engine
    subject = engine.render(template.subject, context).strip() if template.subject else ""
    text = engine.render(template.text, context, escape=escape) if template.text else ""
    html = engine.render(template.html, context, escape=html_escape) if template.html else ""
    return " ".join(subject.split()), text, html


def _fits(preparation: Preparation, context: Mapping[str, Any], escape: Callable[[str], str] | None) -> bool:
    return (
        type(context) is ChainMap
        and len(context.maps) == 2
        and context.maps[1] is preparation.base
        and escape is preparation.escape
        and PER_RECIPIENT.issuperset(context.maps[0])
    )


def prepare(
    template: CompiledTemplate,
    base: Mapping[str, Any],
    escape: Callable[[str], str] | None = None,
) -> CompiledTemplate:
    """``template`` with what does not depend on the recipient rendered ahead against ``base``.

    Call it under the language the recipients get (``translation.override``), with the
    notification's shared context (from :func:`base_context`) and the channel's ``escape``,
    then :func:`render` it with ``ChainMap(own, base)`` per recipient, ``own`` holding
    :data:`PER_RECIPIENT` names only: the messages are those the template as compiled gives,
    errors included. Each field goes through its engine's ``prepare``; when no field gained
    anything, ``template`` itself is returned.
    """
    from django.utils.html import escape as html_escape

    if template.prepared is not None:
        template = template.prepared.origin
    shared = read_only(base)  # the read-only views render() would give the template
    engine = template.engine
    escapes = {"subject": None, "text": escape, "html": html_escape}
    fields: dict[str, Any] = {
        name: engine.prepare(value, shared, PER_RECIPIENT, escape=escapes[name]) if value is not None else None
        for name in FIELDS
        for value in (getattr(template, name),)
    }
    if all(fields[name] is getattr(template, name) for name in FIELDS):
        return template
    preparation = Preparation(template, base, escape, translation.get_language())
    return replace(template, subject=fields["subject"], text=fields["text"], html=fields["html"], prepared=preparation)


def read_only(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """``context`` with every layer a :class:`~dsn_core.readonly.ReadOnlyContext` (cheap when they are)."""
    if type(context) is ReadOnlyContext:
        return context
    if not isinstance(context, ChainMap):
        return ReadOnlyContext(context)
    maps = context.maps
    if len(maps) == 2 and type(maps[1]) is ReadOnlyContext:  # the sending loop: one message's own layer
        first = maps[0]
        return context if type(first) is ReadOnlyContext else ChainMap(ReadOnlyContext(first), maps[1])
    return ChainMap(*(layer if type(layer) is ReadOnlyContext else ReadOnlyContext(layer) for layer in maps))
