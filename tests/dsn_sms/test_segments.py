"""SMS segments: GSM-7 (with the extension table) vs UCS-2, 160/153 and 70/67, cutting to fit."""

from __future__ import annotations

import pytest
from dsn_sms.segments import GSM7, UCS2, count, fit, is_gsm7

PERSIAN_71 = ("سفارش شما فرستاده شد " * 4)[:71]


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", GSM7, 0, 0),
        ("x" * 160, GSM7, 160, 1),
        ("x" * 161, GSM7, 161, 2),
        ("x" * 306, GSM7, 306, 2),  # 2 x 153
        ("x" * 307, GSM7, 307, 3),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉÄÖÑÜ§¿äöñüà", GSM7, 40, 1),  # the basic table's accents and Greek
        ("€" * 80, GSM7, 160, 1),  # extension characters count 2 ...
        ("€" * 81, GSM7, 162, 2),
        ("[]{}~^|\\€", GSM7, 18, 1),
        ("x" * 152 + "€" + "x" * 152, GSM7, 306, 3),  # ... and are never split: 152 | 2 + 151 | 1
        ("س" * 70, UCS2, 70, 1),
        ("س" * 71, UCS2, 71, 2),
        ("س" * 134, UCS2, 134, 2),  # 2 x 67
        ("س" * 135, UCS2, 135, 3),
        ("ça va", UCS2, 5, 1),  # lower-case ç is not in GSM 03.38
        ("\U0001f600" * 35, UCS2, 70, 1),  # an emoji outside the BMP is a surrogate pair: 2 units
        ("\U0001f600" * 36, UCS2, 72, 2),
    ],
)
def test_count(text: str, encoding: str, units: int, segments: int) -> None:
    found = count(text)
    assert (found.encoding, found.units, found.count) == (encoding, units, segments)


def test_persian_text_of_71_characters_is_two_segments() -> None:
    assert len(PERSIAN_71) == 71
    found = count(PERSIAN_71)
    assert found.encoding == UCS2 and found.count == 2
    assert found.non_gsm[0] == "س" and "2 SMS segments (UCS-2, 71 characters" in found.describe()


def test_one_curly_quote_makes_the_whole_text_ucs2() -> None:
    plain, curly = count("It's here " * 10), count("It\u2019s here " * 10)
    assert (plain.encoding, plain.count) == (GSM7, 1)
    assert (curly.encoding, curly.count, curly.non_gsm) == (UCS2, 2, ("\u2019",))


def test_fit_keeps_the_encoding_and_the_limit() -> None:
    gsm = fit("word " * 100, 2)
    assert is_gsm7(gsm) and gsm.endswith("...") and count(gsm).count == 2 and len(gsm) > 280
    ucs = fit("کلمه " * 100, 2)
    assert ucs.endswith("…") and count(ucs).count == 2 and len(ucs) > 120
    assert fit("short", 1) == "short"


def test_fit_does_not_split_an_extension_character_pair() -> None:
    out = fit("€" * 200, 1)
    assert out == "€" * 78 + "..." and count(out).units == 159
