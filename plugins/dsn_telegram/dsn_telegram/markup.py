"""Telegram text formats: escaping substituted values, and splitting long messages.

Telegram parses a message as plain text, as its HTML subset or as MarkdownV2. Values a
template substitutes (``{{ instance.title }}``) must be escaped for the chosen mode, or a
``<`` or a ``.`` in a title makes Telegram refuse the whole message. Messages longer than
:data:`MAX_LENGTH` characters are split at paragraph, line or word boundaries; in HTML,
tags open at a cut are closed at the end of one part and reopened at the start of the next.
"""

from __future__ import annotations

import re

#: The most characters Telegram accepts in one text message.
MAX_LENGTH = 4096

PLAIN = "plain"
HTML = "HTML"
MARKDOWN_V2 = "MarkdownV2"
#: The parse modes a backend can choose.
PARSE_MODES = (PLAIN, HTML, MARKDOWN_V2)

_MARKDOWN_V2_SPECIAL = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
_HTML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*>")


def escape_html(value: str) -> str:
    """Escape ``value`` for Telegram's HTML mode (``&``, ``<``, ``>`` and ``"``)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def escape_markdown_v2(value: str) -> str:
    """Escape every character MarkdownV2 reserves with a backslash."""
    return _MARKDOWN_V2_SPECIAL.sub(r"\\\1", value)


def escape(value: str, mode: str) -> str:
    """Escape ``value`` for ``mode`` (one of :data:`PARSE_MODES`)."""
    if mode == HTML:
        return escape_html(value)
    if mode == MARKDOWN_V2:
        return escape_markdown_v2(value)
    return value


def api_parse_mode(mode: str) -> str | None:
    """The ``parse_mode`` to send to the Bot API (``None`` for plain text)."""
    return None if mode == PLAIN else mode


def bold(value: str, mode: str) -> str:
    """``value`` (already escaped) in bold, or as it is in plain text."""
    if mode == HTML:
        return f"<b>{value}</b>"
    if mode == MARKDOWN_V2:
        return f"*{value}*"
    return value


def _boundary(text: str, limit: int) -> int:
    """Where to cut ``text`` so the first part has at most ``limit`` characters."""
    window = text[:limit]
    floor = limit // 4
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at >= floor:
            return at + len(separator)
    return limit


def _safe_html_cut(text: str, cut: int) -> int:
    """Move ``cut`` back so it falls neither inside a tag nor inside an entity."""
    head = text[:cut]
    lt = head.rfind("<")
    if lt > head.rfind(">"):
        cut = lt
        head = text[:cut]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:] and cut - amp <= 10:
        cut = amp
    return cut


def _safe_markdown_cut(text: str, cut: int) -> int:
    """Move ``cut`` back so it never separates a backslash from the character it escapes."""
    slashes = 0
    while cut - slashes - 1 >= 0 and text[cut - slashes - 1] == "\\":
        slashes += 1
    return cut - 1 if slashes % 2 else cut


def _open_tags(prefix: list[str], chunk: str) -> list[str]:
    """The opening tags still open at the end of ``chunk`` (``prefix`` were open at its start)."""
    stack = list(prefix)
    for match in _HTML_TAG.finditer(chunk):
        name = match.group(2).lower()
        if match.group(1):
            for i in range(len(stack) - 1, -1, -1):
                if _HTML_TAG.match(stack[i]).group(2).lower() == name:  # type: ignore[union-attr]
                    del stack[i]
                    break
        else:
            stack.append(match.group(0))
    return stack


def _closers(stack: list[str]) -> str:
    return "".join(f"</{_HTML_TAG.match(tag).group(2)}>" for tag in reversed(stack))  # type: ignore[union-attr]


def split_text(text: str, mode: str = PLAIN, limit: int = MAX_LENGTH) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, keeping ``mode`` markup valid.

    Plain text is cut at the last paragraph break, line break or space in the window (or
    hard at ``limit`` when there is none). HTML is never cut inside a tag or an entity,
    and tags open at a cut are closed and reopened. MarkdownV2 is never cut between a
    backslash and what it escapes; entities spanning a cut are not rebalanced.
    """
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    open_before: list[str] = []
    while rest:
        prefix = "".join(open_before)
        if len(prefix) + len(rest) <= limit:
            parts.append(prefix + rest)
            break
        budget = limit - len(prefix)
        while True:
            if budget <= 0:
                raise ValueError("cannot split this text: its markup is nested too deeply")
            cut = _boundary(rest, budget)
            if mode == HTML:
                cut = _safe_html_cut(rest, cut)
            elif mode == MARKDOWN_V2:
                cut = _safe_markdown_cut(rest, cut)
            if cut <= 0:
                cut = budget  # a single tag longer than the budget: cut hard
            chunk = rest[:cut]
            still_open = _open_tags(open_before, chunk) if mode == HTML else []
            closing = _closers(still_open)
            if len(prefix) + len(chunk) + len(closing) <= limit:
                break
            budget -= len(closing)
        parts.append(prefix + chunk + closing)
        rest = rest[cut:]
        open_before = still_open
    return parts
