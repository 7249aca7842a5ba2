"""The template-engine API, and the built-in ``django`` engine.

An engine compiles the source an admin typed into a MessageTemplate (so errors show when
the template is saved) and renders it against a context. Register engines with the
``register_template_engines`` hook.

An engine may also *prepare* a compiled template for one notification: render once what does
not depend on the recipient (:meth:`TemplateEngine.prepare`). The base class prepares nothing,
which is always correct; the ``django`` engine pre-renders the top-level nodes that look up no
per-recipient name.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping
from operator import is_
from typing import Any, ClassVar

from django.template import Context, Engine, defaulttags
from django.template import TemplateSyntaxError as DjangoTemplateSyntaxError
from django.template.base import Node, TextNode, VariableNode, render_value_in_context
from django.template.defaulttags import FirstOfNode
from django.templatetags import i18n, l10n, tz
from django.utils.safestring import SafeData, SafeString

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

    def prepare(
        self,
        compiled: Any,
        shared: Mapping[str, Any],
        varying: frozenset[str],
        *,
        escape: Escape | None = None,
    ) -> Any:
        """Optionally render ahead what does not depend on the recipient; return what
        :meth:`render` then takes in place of ``compiled``.

        ``shared`` is the part of the context common to every recipient of one notification;
        ``varying`` names the keys that differ per recipient (``recipient``, ``address``,
        ``unsubscribe_url``). The core calls this once per notification, language and escape
        function, under the language recipients get, and then calls
        ``render(prepared, ChainMap(own, shared), escape=escape)`` for each recipient, ``own``
        holding only ``varying`` names, in the same language and with the same ``escape``. What
        ``render`` returns for the prepared template must be exactly what it returns for
        ``compiled``, errors included (a part that fails must fail per recipient, at render).

        The default prepares nothing and returns ``compiled``: always correct, so an engine
        need not implement it. Leave ``shared`` as it is (render ahead against a copy if the
        engine can write to its context). The result is kept for one batch of deliveries and
        used from the thread that prepared it.
        """
        return compiled


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


#: Node classes that write nothing to the context outside a layer they push and pop, and keep
#: no state in the render context (their children are checked too). A node rendered ahead that
#: depends on the recipient and is not made of these alone might, per recipient, set a name a
#: later node reads: everything after it is then rendered per recipient.
_TRANSPARENT = frozenset(
    {
        TextNode,
        VariableNode,
        _EscapingVariableNode,
        FirstOfNode,
        _EscapingFirstOfNode,
        defaulttags.AutoEscapeControlNode,
        defaulttags.CommentNode,
        defaulttags.CsrfTokenNode,
        defaulttags.FilterNode,
        defaulttags.ForNode,
        defaulttags.IfNode,
        defaulttags.LoadNode,
        defaulttags.LoremNode,
        defaulttags.NowNode,
        defaulttags.SpacelessNode,
        defaulttags.TemplateTagNode,
        defaulttags.VerbatimNode,
        defaulttags.WidthRatioNode,
        defaulttags.WithNode,
        i18n.TranslateNode,
        i18n.BlockTranslateNode,
        i18n.LanguageNode,
        l10n.LocalizeNode,
        tz.LocalTimeNode,
        tz.TimezoneNode,
    }
)
#: Nodes whose output changes from one render to the next (the time, random words), and words
#: that name such filters (``|random``, ``|timesince``...) in a tag or variable: never ahead.
_UNSTABLE = (defaulttags.NowNode, defaulttags.LoremNode)
_UNSTABLE_WORDS = ("random", "timesince", "timeuntil", "naturaltime")


def _unstable(node: Node) -> bool:
    for n in node.get_nodes_by_type(Node):
        if isinstance(n, _UNSTABLE):
            return True
        token = getattr(n, "token", None)
        if token is not None and type(n) is not TextNode and any(w in token.contents for w in _UNSTABLE_WORDS):
            return True
    return False


class _LookupProbe(dict[str, Any]):
    """The top layer of the context nodes are rendered ahead against (it holds ``_dsn_escape``).

    Every name a node looks up passes through the top layer first (Django's ``Context`` asks each
    layer ``key in layer`` from the top down), so this notes a lookup of a watched name, and any
    listing of names (``flatten()``, ``{% debug %}``), which sees them all.
    """

    def __init__(self, values: dict[str, Any], watched: frozenset[str]) -> None:
        super().__init__(values)
        self.watched = watched
        self.touched = False

    def __contains__(self, key: object) -> bool:
        if key in self.watched:
            self.touched = True
        return dict.__contains__(self, key)

    def __getitem__(self, key: str) -> Any:
        if key in self.watched:
            self.touched = True
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.watched:
            self.touched = True
        return dict.get(self, key, default)

    def __iter__(self) -> Any:
        self.touched = True
        return dict.__iter__(self)

    def keys(self) -> Any:
        self.touched = True
        return dict.keys(self)

    def items(self) -> Any:
        self.touched = True
        return dict.items(self)

    def values(self) -> Any:
        self.touched = True
        return dict.values(self)


class _StateProbe(dict[Any, Any]):
    """The render context's layer while rendering ahead: notes any use ({% cycle %},
    {% ifchanged %}, blocks keep state there between nodes)."""

    touched = False

    def _use(self) -> None:
        self.touched = True

    def __contains__(self, key: object) -> bool:
        self._use()
        return dict.__contains__(self, key)

    def __getitem__(self, key: Any) -> Any:
        self._use()
        return dict.__getitem__(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._use()
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        self._use()
        dict.__delitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._use()
        return dict.get(self, key, default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._use()
        return dict.setdefault(self, key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        self._use()
        return dict.pop(self, key, *default)

    def __iter__(self) -> Any:
        self._use()
        return dict.__iter__(self)


def _snapshot(layers: list[Any]) -> list[tuple[Any, tuple[Any, ...], tuple[Any, ...]]]:
    # dict's own methods: no probe method runs (and they are C-fast: this runs per node)
    return [(layer, tuple(dict.keys(layer)), tuple(dict.values(layer))) for layer in layers]


def _changed(snapshot: list[tuple[Any, tuple[Any, ...], tuple[Any, ...]]]) -> bool:
    """Whether any layer gained, lost or rebound a name since ``snapshot``."""
    for layer, keys, values in snapshot:
        if tuple(dict.keys(layer)) != keys or not all(map(is_, dict.values(layer), values)):
            return True
    return False


def _same(layers: list[Any], before: list[Any]) -> bool:
    return len(layers) == len(before) and all(map(is_, layers, before))


def _transparent(node: Node) -> bool:
    return all(type(n) in _TRANSPARENT and getattr(n, "asvar", None) is None for n in node.get_nodes_by_type(Node))


class _Prepared:
    """A Django template with its recipient-independent top-level nodes rendered ahead.

    ``parts`` holds strings (rendered ahead, adjacent ones joined) and the nodes rendered per
    recipient, in the template's order; ``text`` is the whole output when nothing is left live.
    """

    __slots__ = ("escape", "parts", "template", "text")

    def __init__(self, template: Any, parts: list[Any], escape: Escape | None) -> None:
        self.template = template
        self.parts = parts
        self.escape = escape
        self.text = SafeString(parts[0]) if len(parts) == 1 and type(parts[0]) is str else None

    def render(self, context: Context) -> str:
        """As ``Template.render`` does: the template's render-context state, then the nodes.

        :meth:`DjangoTemplateEngine.render` passes a fresh context it drops afterwards, so what
        ``Template.render``'s context managers set is set here without them (they cost a third
        of a prepared render) and left set.
        """
        template = self.template
        if context.template is not None:  # inside another template's render: undo it all after
            with context.render_context.push_state(template):
                return self._render(context)
        state = context.render_context
        state.template = template
        state.dicts.append({})  # the template's own, as push_state gives it
        context.template = template
        context.template_name = template.name
        return self._render(context)

    def _render(self, context: Context) -> str:
        return SafeString("".join([p if type(p) is str else p.render_annotated(context) for p in self.parts]))


def _prepare(template: Any, shared: Mapping[str, Any], varying: frozenset[str], escape: Escape | None) -> Any:
    """Render ahead the top-level nodes of ``template`` whose output cannot depend on ``varying``.

    Each node is rendered once, in order, against ``shared``, an empty per-recipient layer and a
    probe on top. A node stays live (rendered per recipient) when it looked up a varying name or
    listed the context's names, raised (its error must surface per delivery), wrote a name
    anywhere in the context or changed its flags (the write must happen again for the live nodes
    after it), used the render context's state, or holds ``{% now %}``, ``{% lorem %}`` or a filter
    whose output changes between renders (``|random``, ``|timesince``, see :func:`_unstable`). After a
    live node that depends on the recipient and is not :data:`_TRANSPARENT` (it could write a
    name per recipient that rendering ahead did not see), every later node stays live.
    """
    layer = shared.copy() if isinstance(shared, dict) else dict(shared)  # a write stays out of the caller's
    context = Context(layer, autoescape=False)
    context.dicts.append({})  # where the recipient's names go: empty, so looking them up finds nothing
    probe = _LookupProbe({"_dsn_escape": escape}, varying)
    context.dicts.append(probe)
    parts: list[Any] = []
    blind = False  # a live node might have set names per recipient: render every later node per recipient
    with context.render_context.push_state(template):
        state = context.render_context.dicts[-1] = _StateProbe()
        with context.bind_template(template):
            context.template_name = template.name
            layers, state_layers = context.dicts[:], context.render_context.dicts[:]
            for node in template.nodelist:
                if blind:
                    parts.append(node)
                    continue
                if _unstable(node):
                    parts.append(node)
                    blind = not _transparent(node)
                    continue
                probe.touched = state.touched = False
                before = _snapshot(context.dicts)
                flags = (context.autoescape, context.use_l10n, context.use_tz)
                failed, text = False, None
                try:
                    text = node.render_annotated(context)
                except Exception:
                    failed = True
                wrote = _changed(before) or (context.autoescape, context.use_l10n, context.use_tz) != flags
                context.autoescape, context.use_l10n, context.use_tz = flags
                if not (_same(context.dicts, layers) and _same(context.render_context.dicts, state_layers)):
                    # layers left pushed or popped (a failure, or a tag that does so): the nodes
                    # after it would see them per recipient; render them all per recipient
                    context.dicts[:], context.render_context.dicts[:] = layers, state_layers
                    wrote = blind = True
                depends = probe.touched or failed
                if depends or wrote or state.touched or not isinstance(text, str):
                    parts.append(node)
                    if depends and (wrote or not _transparent(node)):
                        blind = True
                else:
                    parts.append(str.__str__(text))  # a plain str, told from the live nodes by its type
    if not any(type(p) is str for p in parts):
        return template  # nothing to gain: render it as it is
    merged: list[Any] = []
    for part in parts:
        if type(part) is str and merged and type(merged[-1]) is str:
            merged[-1] += part
        else:
            merged.append(part)
    return _Prepared(template, merged, escape)


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

    def prepare(
        self,
        compiled: Any,
        shared: Mapping[str, Any],
        varying: frozenset[str],
        *,
        escape: Escape | None = None,
    ) -> Any:
        """Render ahead the top-level nodes that look up no ``varying`` name (see :func:`_prepare`)."""
        if type(compiled) is _Prepared:
            compiled = compiled.template
        if not compiled.nodelist:
            return compiled
        return _prepare(compiled, shared, varying, escape)

    def render(self, compiled: Any, context: Mapping[str, Any], *, escape: Escape | None = None) -> str:
        if type(compiled) is _Prepared:
            if escape is not compiled.escape:  # prepared for another channel's escaping
                compiled = compiled.template
            elif compiled.text is not None:
                return compiled.text
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
            return compiled.render(ctx)  # a Template, or a _Prepared one
        except Exception as exc:  # a template filter or attribute raising
            raise TemplateError(f"rendering failed: {exc}") from exc
