"""How many SMS segments a text costs, and cutting a text to a number of segments.

An SMS carries 140 bytes. A text whose every character is in the GSM 03.38 alphabet is sent in
**GSM-7**: 160 septets in one SMS; characters of the extension table (``€ [ ] { } ~ ^ | \\`` and
form feed) take two septets each. Any other character (``ç``, ``á``, ``ê``, a curly quote, Persian,
CJK, an emoji) switches the whole text to **UCS-2**: 70 UTF-16 code units in one SMS (an emoji
outside the BMP takes two). A longer text is split into segments that each lose room to the
concatenation header: 153 septets or 67 code units per segment; a two-septet character or a
surrogate pair is never split across two segments. Each segment is billed as one SMS.

The GSM alphabet comes from the ``gsm0338`` codec (a maintained package): ``str.encode("gsm03.38")``
gives one byte per septet, two for an extension character, and fails on anything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM7 = "GSM-7"
UCS2 = "UCS-2"
#: Units in one single SMS, and in each segment of a longer one.
CAPACITY = {GSM7: (160, 153), UCS2: (70, 67)}
#: Twilio refuses bodies over 1,600 characters: 24 UCS-2 segments.
MAX_SEGMENTS = 24
#: Ellipses that keep the text's encoding: "…" is not in GSM-7 and would switch it to UCS-2.
ELLIPSIS = {GSM7: "...", UCS2: "…"}


@dataclass(frozen=True)
class Segments:
    """How a text is sent: its ``encoding``, its length in ``units`` and the number of segments."""

    encoding: str
    units: int
    count: int
    #: Characters that force UCS-2 (the first few, each once), empty for GSM-7.
    non_gsm: tuple[str, ...] = ()

    def describe(self) -> str:
        """``"2 SMS segments (UCS-2, 71 characters: 70 fit in one SMS, 67 per segment)"``."""
        single, multi = CAPACITY[self.encoding]
        unit = "characters" if self.encoding == UCS2 else "GSM-7 characters"
        count = "1 SMS segment" if self.count == 1 else f"{self.count} SMS segments"
        text = f"{count} ({self.encoding}, {self.units} {unit}: {single} fit in one SMS, {multi} per segment)"
        if self.non_gsm:
            shown = " ".join(repr(c) for c in self.non_gsm)
            text += f"; UCS-2 because of {shown}"
        return text


def _septets(char: str) -> int | None:
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeError:
        return None


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM 03.38 alphabet (basic or extension table)."""
    try:
        text.encode("gsm03.38")
    except UnicodeError:
        return False
    return True


def _costs(text: str) -> tuple[str, list[int]]:
    """The encoding of ``text`` and the units each of its characters takes."""
    if is_gsm7(text):
        return GSM7, [len(c.encode("gsm03.38")) for c in text]
    return UCS2, [2 if ord(c) > 0xFFFF else 1 for c in text]


def _pack(costs: list[int], encoding: str) -> int:
    single, multi = CAPACITY[encoding]
    total = sum(costs)
    if total <= single:
        return 1 if costs else 0
    count, used = 1, 0
    for cost in costs:  # fill each segment without splitting a character
        if used + cost > multi:
            count += 1
            used = 0
        used += cost
    return count


def count(text: str) -> Segments:
    """The encoding, length and segment count of ``text`` as the carrier will send it."""
    encoding, costs = _costs(text)
    non_gsm: tuple[str, ...] = ()
    if encoding == UCS2:
        seen: list[str] = []
        for char in text:
            if char not in seen and _septets(char) is None:
                seen.append(char)
                if len(seen) == 3:
                    break
        non_gsm = tuple(seen)
    return Segments(encoding, sum(costs), _pack(costs, encoding), non_gsm)


def fit(text: str, max_segments: int) -> str:
    """``text`` if it takes at most ``max_segments`` segments; else cut to fit, with an ellipsis.

    The cut falls at a word boundary when one is near. The ellipsis keeps the encoding (``...``
    in GSM-7, ``…`` in UCS-2), so cutting never makes a GSM-7 text dearer.
    """
    if count(text).count <= max_segments:
        return text

    def cut(length: int) -> str:
        head = text[:length].rstrip()
        return head + ELLIPSIS[GSM7 if is_gsm7(head) else UCS2]

    low, high = 0, len(text)  # the longest prefix that fits, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if count(cut(middle)).count <= max_segments:
            low = middle
        else:
            high = middle - 1
    space = text.rfind(" ", 0, low + 1)
    if space > low * 0.6:
        low = space
    return cut(low)
