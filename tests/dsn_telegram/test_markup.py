"""Escaping for each parse mode, and splitting long messages without breaking markup."""

from __future__ import annotations

import re
from typing import Any

import pytest
from dsn_telegram import markup
from dsn_telegram.messenger import TelegramMessenger

from dsn_core.models import Delivery
from tests.testapp.models import Article

from .conftest import FakeBotAPI


def test_escape_html():
    assert markup.escape_html('a < b & "c" > d') == "a &lt; b &amp; &quot;c&quot; &gt; d"


def test_escape_markdown_v2_escapes_every_reserved_character():
    reserved = "_*[]()~`>#+-=|{}.!\\"
    escaped = markup.escape_markdown_v2(reserved)
    assert escaped == "".join("\\" + c for c in reserved)
    assert markup.escape_markdown_v2("Order 1.5 (paid)!") == r"Order 1\.5 \(paid\)\!"


def test_plain_mode_leaves_values_alone():
    assert TelegramMessenger({}).escape("<b>*x*</b>") == "<b>*x*</b>"
    assert TelegramMessenger({"parse_mode": "HTML"}).escape("<b>") == "&lt;b&gt;"
    assert TelegramMessenger({"parse_mode": "MarkdownV2"}).escape("a.b") == r"a\.b"


def test_short_text_is_one_part():
    assert markup.split_text("hello", markup.HTML) == ["hello"]


def test_plain_split_prefers_paragraphs_and_is_lossless():
    text = ("p" * 3000 + "\n\n") + ("q" * 3000 + "\n\n") + "r" * 100
    parts = markup.split_text(text)
    assert parts == ["p" * 3000 + "\n\n", "q" * 3000 + "\n\n" + "r" * 100]


def test_plain_split_without_boundaries_cuts_hard():
    parts = markup.split_text("x" * 9000)
    assert [len(p) for p in parts] == [4096, 4096, 808]


def test_html_split_never_cuts_a_tag_or_entity_and_rebalances_tags():
    words = " ".join(f"<i>w{i}</i>&amp;" for i in range(1200))
    text = f"<b>{words}</b>"
    parts = markup.split_text(text, markup.HTML, limit=1000)
    assert len(parts) > 3
    tag = re.compile(r"</?([a-z]+)>")
    for part in parts:
        assert len(part) <= 1000
        assert part.startswith("<b>") and part.endswith("</b>")
        stack: list[str] = []
        for m in tag.finditer(part):  # every part is balanced on its own
            if m.group(0).startswith("</"):
                assert stack.pop() == m.group(1)
            else:
                stack.append(m.group(1))
        assert stack == []
        assert not re.search(r"&[a-z]*$", part.removesuffix("</b>"))  # no entity cut in half
    stripped = "".join(p.removeprefix("<b>").removesuffix("</b>") for p in parts)
    assert stripped == words


def test_markdown_split_keeps_escapes_with_their_character():
    text = ("a" * 9 + "\\.") * 10
    parts = markup.split_text(text, markup.MARKDOWN_V2, limit=20)
    assert "".join(parts) == text
    assert all(not p.endswith("\\") or p.endswith("\\\\") for p in parts)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "mode, template, expected",
    [
        ("plain", "New: {{ instance.title }}", "New: <1.5> & *bold*"),
        ("HTML", "<b>New:</b> {{ instance.title }}", "<b>New:</b> &lt;1.5&gt; &amp; *bold*"),
        ("MarkdownV2", "*New:* {{ instance.title }}", r"*New:* <1\.5\> & \*bold\*"),
    ],
)
def test_core_pipeline_escapes_substituted_values_for_the_mode(
    mode: str,
    template: str,
    expected: str,
    telegram_settings: Any,
    bot_api: FakeBotAPI,
    make_flow: Any,
    django_user_model: Any,
    dsn_flush: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from dsn_core import addresses

    user = django_user_model.objects.create_user("ada")
    addresses.set_address(user, "telegram", "4242")
    make_flow(Article, messenger="telegram", users=[user], text=template, options={"parse_mode": mode})
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="<1.5> & *bold*")
    dsn_flush()
    [sent] = bot_api.sent()
    assert sent["text"] == expected
    assert sent.get("parse_mode") == (None if mode == "plain" else mode)
    delivery = Delivery.objects.get()
    assert delivery.status == "sent" and delivery.provider_id == "1000"
