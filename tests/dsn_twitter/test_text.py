"""X's weighted character count and the 280-character cut."""

from __future__ import annotations

from dsn_twitter.text import TWEET_LIMIT, fit, weighted_length


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
