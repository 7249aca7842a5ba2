"""X's character count (the twitter-text rules) and cutting a text to fit.

X counts a post's length by weight (twitter-text, configuration v3, as documented at
https://docs.x.com/fundamentals/counting-characters):

* the text is NFC-normalised and ``\\r\\n`` counts as one line break;
* every URL counts 23, whatever its length: ``https://…`` and ``http://…`` ones, and bare
  domains (``shop.io``, ``www.example.com/sale``) whose last label is a real top-level domain,
  also inside brackets or parentheses (``(see shop.io)``, ``[https://x.com/a]``);
* every emoji counts 2, however many code points it is made of: skin tones, flags, keycaps
  and ZWJ sequences such as 👨‍👩‍👧‍👦 are one emoji;
* any other character counts 1 if its code point is in X's light ranges (Latin, Greek,
  Cyrillic, Arabic, Hebrew, Devanagari … up to U+10FF, and some punctuation), else 2 (CJK).

Why not the ``twitter-text-parser`` package (a port of twitter-text): its last release (3.0.0,
2023) imports ``pkg_resources``, which setuptools 81+ no longer ships, so it fails to import in a
fresh environment; and its emoji table is Unicode 12 (2019), so newer ZWJ sequences (❤️‍🔥,
🧑‍🧑‍🧒) are counted 5 and 8 instead of 2. DSN applies the same rules with two maintained data
sources instead: ``emoji`` (the Unicode emoji sequences) and ``publicsuffixlist`` (the current
top-level domains). Both are imported on first use, not when the plugin loads.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

TWEET_LIMIT = 280
DM_LIMIT = 10_000
URL_WEIGHT = 23
EMOJI_WEIGHT = 2
ELLIPSIS = "…"
#: Code points X counts once (twitter-text v3); every other code point counts twice.
LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))

_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    "\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"
#: A character that may not come right before a URL (a URL glued to a word, a mention, a cashtag).
_NOT_BEFORE_URL = "A-Za-z0-9@\uff20$#\uff03"
#: A subdomain label: letters and digits of any script, inner hyphens and underscores.
_LABEL = r"[^\W_](?:[\w-]*+(?<![-_]))?"
#: The label before the top-level domain: no underscore.
_NAME = r"[^\W_](?:(?:[^\W_]|-)*+(?<!-))?"
#: A candidate top-level domain; checked against the list of real ones afterwards.
_TLD = r"(?:xn--[0-9a-z-]+|[a-z]{2,63}|[^\W\d_a-z]{2,})(?![0-9a-z@+-])"
_PATH_CHARS = rf"[a-z0-9{_CYRILLIC}{_LATIN_ACCENTS}!*';:=+,.$/%#\[\]\-\u2013_~@|&()]"
_PATH_ENDING = re.compile(rf"[+\-a-z0-9=_#/{_CYRILLIC}{_LATIN_ACCENTS})]", re.IGNORECASE)
_URL = re.compile(
    rf"(?:(?<=[^{_NOT_BEFORE_URL}])|^)"
    r"(?P<protocol>https?://)?"
    rf"(?P<host>(?:{_LABEL}\.)*{_NAME}\.{_TLD})"
    r"(?P<port>:[0-9]+)?"
    rf"(?P<path>/{_PATH_CHARS}*)?"
    r"(?P<query>\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/])?",
    re.IGNORECASE,
)
#: Without a protocol, only the ASCII (and accented Latin) part of a host is a domain.
_ASCII_HOST = re.compile(rf"(?:[-a-z0-9{_LATIN_ACCENTS}]+\.)+(?:xn--[0-9a-z-]+|[a-z]{{2,63}})", re.IGNORECASE)


@dataclass(frozen=True)
class Atom:
    """A piece X weighs as one: a URL, an emoji, or a single character."""

    text: str
    weight: int
    kind: str  # "url", "emoji" or "char"


@cache
def _suffixes() -> Any:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList(only_icann=True, accept_unknown=False)


def _is_tld(label: str) -> bool:
    label = label.lower()
    return label.startswith("xn--") or (bool(label) and _suffixes().is_public(label))


def _trim_host(host: str) -> str:
    """The longest leading part of ``host`` (two labels at least) that ends in a real top-level domain."""
    labels = host.split(".")
    for end in range(len(labels), 1, -1):
        if _is_tld(labels[end - 1]):
            return ".".join(labels[:end])
    return ""


def _trim_path(path: str) -> str:
    """``path`` without an unbalanced bracket and what follows it, and without trailing punctuation."""
    depth = 0
    opened: list[int] = []
    for index, char in enumerate(path):
        if char == "(":
            opened.append(index)
            depth += 1
        elif char == ")":
            if depth == 0:
                path = path[:index]
                break
            opened.pop()
            depth -= 1
    else:
        if opened:
            path = path[: opened[0]]
    while len(path) > 1 and not _PATH_ENDING.fullmatch(path[-1]):
        path = path[:-1]
    return path


def url_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every URL X recognises in ``text`` (already NFC-normalised)."""
    spans: list[tuple[int, int]] = []
    if "." not in text:
        return spans
    for match in _URL.finditer(text):
        start = match.start()
        host = match["host"]
        path = match["path"] or ""
        kept_path = _trim_path(path) if path else ""
        tail = (match["port"] or "") + kept_path
        if kept_path == path:  # a query follows the path only when none of the path was cut off
            tail += match["query"] or ""
        if match["protocol"]:
            trimmed = _trim_host(host)
            if trimmed:
                whole = trimmed == host
                spans.append((start, start + len(match["protocol"]) + len(trimmed) + (len(tail) if whole else 0)))
            continue
        if start > 0 and text[start - 1] in "-_./":
            continue
        if not path:  # without a protocol, a port or a query counts only after a path
            tail = ""
        host_start = match.start("host")
        found = [(m.start(), m.group()) for m in _ASCII_HOST.finditer(host)]
        for position, (offset, candidate) in enumerate(found):
            trimmed = _trim_host(candidate)
            if not trimmed:
                continue
            end = host_start + offset + len(trimmed)
            is_last = position == len(found) - 1 and offset + len(trimmed) == len(host)
            spans.append((host_start + offset, end + (len(tail) if is_last else 0)))
    return spans


def _emoji_spans(text: str) -> list[tuple[int, int]]:
    import emoji

    return [(found["match_start"], found["match_end"]) for found in emoji.emoji_list(text)]


def char_weight(char: str) -> int:
    """1 for a code point X counts once, 2 for the others."""
    point = ord(char)
    return 1 if any(low <= point <= high for low, high in LIGHT_RANGES) else 2


def normalize(text: str) -> str:
    """``text`` as X counts it: NFC, with ``\\r\\n`` and ``\\r`` as ``\\n``."""
    return unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")


def atoms(text: str) -> list[Atom]:
    """``text`` (normalised first) split into the pieces X weighs: URLs, emoji and single characters."""
    text = normalize(text)
    spans = {start: (end, "url") for start, end in url_spans(text)}
    for start, end in _emoji_spans(text):
        spans.setdefault(start, (end, "emoji"))
    pieces: list[Atom] = []
    index = 0
    while index < len(text):
        end, kind = spans.get(index, (index + 1, "char"))
        piece = text[index:end]
        weight = URL_WEIGHT if kind == "url" else EMOJI_WEIGHT if kind == "emoji" else char_weight(piece)
        pieces.append(Atom(piece, weight, kind))
        index = end
    return pieces


def weighted_length(text: str) -> int:
    """The length X counts for ``text``."""
    return sum(atom.weight for atom in atoms(text))


def fit(text: str, limit: int = TWEET_LIMIT) -> str:
    """``text`` (normalised) if X counts it within ``limit``; else cut to fit, ending with ``…``.

    The cut falls at a word boundary when one is near, and never inside a URL or an emoji: a URL
    that does not fit is left out whole.
    """
    text = normalize(text).strip()
    if weighted_length(text) <= limit:
        return text
    pieces = atoms(text)
    budget = limit - char_weight(ELLIPSIS)
    while budget > 0:
        kept, used = 0, 0
        for atom in pieces:
            if used + atom.weight > budget:
                break
            used += atom.weight
            kept += 1
        head = pieces[:kept]
        breaks = [i for i, atom in enumerate(head) if atom.text.isspace()]
        if breaks and sum(a.weight for a in head[: breaks[-1]]) > budget * 0.6:
            head = head[: breaks[-1]]
        out = "".join(atom.text for atom in head).rstrip() + ELLIPSIS
        if weighted_length(out) <= limit:  # a cut can turn "shop.iox" into the URL "shop.io"
            return out
        budget -= 1
    return ELLIPSIS
