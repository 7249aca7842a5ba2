"""Fitting text into X's limits: 280 weighted characters per post, 10,000 per DM.

X counts characters by weight (https://docs.x.com/fundamentals/counting-characters): most
Latin, Greek, Cyrillic and punctuation count 1, other characters (CJK, emoji) count 2, and
every URL counts 23 whatever its length. Long texts are cut at a word boundary and end with
an ellipsis; a URL is never cut in half.
"""

from __future__ import annotations

import re

TWEET_LIMIT = 280
DM_LIMIT = 10_000
URL_WEIGHT = 23
ELLIPSIS = "…"
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_TOKENS = re.compile(r"https?://\S+|\s+|[^\s]+", re.IGNORECASE)


def char_weight(char: str) -> int:
    """1 for characters X counts once, 2 for the others."""
    point = ord(char)
    return 1 if any(low <= point <= high for low, high in _LIGHT_RANGES) else 2


def _token_weight(token: str) -> int:
    if _URL.fullmatch(token):
        return URL_WEIGHT
    return sum(char_weight(c) for c in token)


def weighted_length(text: str) -> int:
    """The length X counts for ``text``."""
    return sum(_token_weight(token) for token in _TOKENS.findall(text))


def fit(text: str, limit: int = TWEET_LIMIT) -> str:
    """``text`` if it fits in ``limit``; else cut at a word boundary with a trailing ellipsis."""
    text = text.strip()
    if weighted_length(text) <= limit:
        return text
    budget = limit - char_weight(ELLIPSIS)
    kept: list[str] = []
    used = 0
    for token in _TOKENS.findall(text):
        weight = _token_weight(token)
        if used + weight <= budget:
            kept.append(token)
            used += weight
            continue
        if not kept and not _URL.fullmatch(token):  # one huge word: cut inside it
            for char in token:
                if used + char_weight(char) > budget:
                    break
                kept.append(char)
                used += char_weight(char)
        break
    return "".join(kept).rstrip() + ELLIPSIS
