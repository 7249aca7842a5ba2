"""The template-engine API, and the built-in ``django`` engine.

An engine compiles the source an admin typed into a MessageTemplate (so errors show when
the template is saved) and renders it against a context. Register engines with the
``register_template_engines`` hook.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django.template import Context, Engine
from django.template import TemplateSyntaxError as DjangoTemplateSyntaxError
from django.template.base import VariableNode, render_value_in_context
from django.template.defaulttags import FirstOfNode
from django.utils.safestring import SafeData

from .errors import TemplateError

Escape = Callable[[str], str]


class TemplateEngine:
    """Base class for template engines. Subclass it, set ``key`` and ``label``, implement
    :meth:`compile` and :meth:`render`, and register the class with the
    ``register_template_engines`` hook.

    ``key`` is stored in ``MessageTemplate.engine`` (never change it); ``label`` is shown in the
    admin's engine dropdown. One instance serves every render of the process, from several
    threads: keep no per-render state on it.
    """

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def compile(self, source: str) -> Any:
        """Compile ``source`` (one field of a MessageTemplate) into anything :meth:`render` takes.

        Called when an admin saves the template (errors are shown under the field) and again,
        cached, by workers. Raise :class:`~dsn_core.errors.TemplateError` ``(message, line=n)``
        for a syntax error, ``line`` being 1-based when the engine knows it.
        """
        raise NotImplementedError

    def render(self, compiled: Any, context: Mapping[str, Any], *, escape: Escape | None = None) -> str:
        """Render a compiled template against ``context`` and return the text.

        ``escape`` is applied to every substituted value that is not already marked safe
        (the channel's markup: HTML for the ``html`` field, MarkdownV2 for Telegram); ``None``
        means substitute values as they are. Raise :class:`~dsn_core.errors.TemplateError`
        when rendering fails: the delivery is then ``dead`` at once with the message, since
        retrying cannot fix a template.
        """
        raise NotImplementedError


def _escaped(value: Any, context: Context, escape: Escape) -> str:
    if isinstance(value, SafeData):
        return str(value)
    with context.push(_dsn_escape=None):
        text = render_value_in_context(value, context)
    return escape(str(text))


class _EscapingVariableNode(VariableNode):
    """A ``{{ variable }}`` that escapes with the channel's escape function."""

    def render(self, context: Context) -> str:
        escape = context.get("_dsn_escape")
        if escape is None:
            return super().render(context)
        return _escaped(self.filter_expression.resolve(context), context, escape)


class _EscapingFirstOfNode(FirstOfNode):
    """``{% firstof a b %}`` whose output is escaped like a variable's."""

    def render(self, context: Context) -> str:
        escape = context.get("_dsn_escape")
        if escape is None or self.asvar:
            return super().render(context)
        for var in self.vars:
            value = var.resolve(context, ignore_failures=True)
            if value:
                return _escaped(value, context, escape)
        return ""


#: Tag libraries templates may ``{% load %}`` (no loaders: templates cannot include files).
LIBRARIES = {
    "i18n": "django.templatetags.i18n",
    "l10n": "django.templatetags.l10n",
    "tz": "django.templatetags.tz",
    "humanize": "django.contrib.humanize.templatetags.humanize",
}


class DjangoTemplateEngine(TemplateEngine):
    """Django's template language, with the default builtins and no loaders.

    Autoescaping is off for plain text; channels that need escaping pass ``escape``.
    """

    key = "django"
    label = "Django templates"

    def __init__(self) -> None:
        self._engine = Engine(autoescape=False, libraries=dict(LIBRARIES), debug=True)

    def compile(self, source: str) -> Any:
        try:
            template = self._engine.from_string(source)
        except DjangoTemplateSyntaxError as exc:
            line = None
            info = getattr(exc, "template_debug", None)
            if info:
                line = info.get("line")
            raise TemplateError(str(exc), line=line) from exc
        for node in template.nodelist.get_nodes_by_type(VariableNode):
            node.__class__ = _EscapingVariableNode
        for node in template.nodelist.get_nodes_by_type(FirstOfNode):
            node.__class__ = _EscapingFirstOfNode
        return template

    def render(self, compiled: Any, context: Mapping[str, Any], *, escape: Escape | None = None) -> str:
        # No copy of the caller's mapping: a ChainMap (per-message part over the part shared
        # by all recipients) becomes the Context's own stack of dicts, which Django searches
        # faster than a ChainMap; the escape function goes on a layer of its own.
        if isinstance(context, ChainMap):
            ctx = Context(context.maps[-1], autoescape=False)
            for layer in reversed(context.maps[:-1]):
                ctx.dicts.append(layer)
        else:
            ctx = Context(context if isinstance(context, dict) else dict(context), autoescape=False)
        ctx.dicts.append({"_dsn_escape": escape})
        try:
            return compiled.render(ctx)
        except Exception as exc:  # a template filter or attribute raising
            raise TemplateError(f"rendering failed: {exc}") from exc
