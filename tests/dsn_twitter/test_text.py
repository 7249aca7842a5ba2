"""X's weighted character count and the 280-character cut."""

from __future__ import annotations

import pytest
from dsn_twitter.text import TWEET_LIMIT, fit, url_spans, weighted_length


def test_weights() -> None:
    assert weighted_length("hello") == 5
    assert weighted_length("日本語") == 6
    assert weighted_length("go https://example.com/a/very/long/path/that/is/longer/than/23") == 3 + 23
    assert weighted_length("ok 👍") == 3 + 2 * len("👍")


def test_short_text_is_untouched() -> None:
    text = "x" * TWEET_LIMIT
    assert fit(text) == text


def test_long_text_is_cut_at_a_word_with_an_ellipsis() -> None:
    out = fit("word " * 100)
    assert out.endswith("word…") and weighted_length(out) <= TWEET_LIMIT
    assert weighted_length(out) > TWEET_LIMIT - 6


def test_wide_characters_count_double() -> None:
    out = fit("語" * 200)
    assert out.endswith("…") and weighted_length(out) <= TWEET_LIMIT and len(out) == 140


def test_urls_are_never_cut() -> None:
    url = "https://example.com/" + "p" * 300
    out = fit("a" * 260 + " " + url)  # 260 + 1 + 23 > 280
    assert url not in out and "https://" not in out and out.endswith("…")
    kept = fit("b" * 200 + " " + url + " " + "c " * 100)
    assert url in kept and weighted_length(kept) <= TWEET_LIMIT


# -- the twitter-text rules: the cases of issue 13 ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Visit shop.io now", 6 + 23 + 4),  # a bare domain is a URL
        ("Visit www.example.com/sale?x=1 now", 6 + 23 + 4),
        ("(see shop.io)", 1 + 4 + 23 + 1),  # brackets are not part of the URL
        ("[https://example.com/a]", 1 + 23 + 1),
        ("(https://en.wikipedia.org/wiki/Python_(language))", 1 + 23 + 1),  # balanced parens stay in
        ("go to https://example.com/a.", 6 + 23 + 1),  # trailing punctuation is not
        ("me@example.com", 3 + 11),  # an email address is not a URL
        ("$shop.io #shop.io", 8 + 1 + 8),  # neither are cashtags and hashtags
        ("see file.txt and Node.js", 12 + 5 + 7),  # not top-level domains
        ("edit config.py", 5 + 23),  # .py is Paraguay's: X counts it too
        ("http://例え.jp", 23),
        ("日本語", 6),
        ("سلام دنیا", 9),  # Persian (Arabic script) counts 1 per character
        ("e\u0301", 1),  # NFC: e + combining acute is one é
        ("a\r\nb", 3),
    ],
)
def test_weighted_length_follows_twitter_text(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    "emoji",
    [
        "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # family: man, woman, girl, boy (ZWJ)
        "\U0001f9d1\u200d\U0001f9d1\u200d\U0001f9d2",  # family: adult, adult, child (Emoji 15.1)
        "\u2764\ufe0f\u200d\U0001f525",  # heart on fire (Emoji 13.1)
        "\U0001f44d\U0001f3fd",  # skin tone
        "\U0001f1eb\U0001f1f7",  # flag
        "1\ufe0f\u20e3",  # keycap
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland (tag sequence)
    ],
)
def test_an_emoji_sequence_counts_two(emoji: str) -> None:
    assert weighted_length(emoji) == 2
    assert weighted_length(f"hi {emoji}!") == 3 + 2 + 1


def test_url_spans_find_every_form() -> None:
    text = "a shop.io b (www.x.com/p) c [https://y.org/q?r=1] d https://z.net."
    assert [text[s:e] for s, e in url_spans(text)] == ["shop.io", "www.x.com/p", "https://y.org/q?r=1", "https://z.net"]


def test_bare_domains_are_cut_whole() -> None:
    text = " ".join(f"shop{i}.io" for i in range(12))  # 12 URLs of 23 + 11 spaces = 287: over, in 107 characters
    out = fit(text)
    assert weighted_length(out) <= TWEET_LIMIT and out.endswith("…")
    assert out == " ".join(f"shop{i}.io" for i in range(11)) + "…"  # 11 whole domains: 263 + the ellipsis


def test_emoji_sequences_are_never_split() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    out = fit(family * 200)
    assert weighted_length(out) <= TWEET_LIMIT and out.endswith("…")
    assert out[:-1] == family * 139  # 139 emoji of 2 + the ellipsis (2) = 280


def test_fit_sends_nfc() -> None:
    assert fit("cafe\u0301") == "café"


def test_a_cut_never_makes_a_new_url_that_overflows() -> None:
    text = "x" * 270 + " shop.iox"  # not a URL; cutting after "shop.io" would make one (23)
    out = fit(text)
    assert weighted_length(out) <= TWEET_LIMIT
