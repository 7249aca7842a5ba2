"""dsn-telegram as an installed distribution: entry point, dropdown, checks, fixed chats."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from dsn_telegram.messenger import TelegramMessenger

from dsn_core import addresses
from dsn_core.models import Delivery, Subscription
from dsn_core.plugins import get_messenger_class, messenger_choices, registry
from tests.testapp.models import Article

from .conftest import TOKEN, FakeBotAPI, api_error


def test_registered_through_the_entry_point():
    [ep] = [ep for ep in entry_points(group="dsn") if ep.name == "telegram"]
    assert ep.value == "dsn_telegram.plugin" and ep.dist.metadata["Name"] == "dsn-telegram"
    assert get_messenger_class("telegram") is TelegramMessenger
    assert ("telegram", "Telegram") in messenger_choices()
    assert not [p for p in registry().problems if p.plugin == "telegram"]


@pytest.mark.django_db  # on Django 6.1, `check` asks the database whether it supports JSONField
def test_check_without_token_says_what_to_set(settings, monkeypatch):
    monkeypatch.delenv("DSN_TELEGRAM_BOT_TOKEN", raising=False)
    settings.DSN = {**settings.DSN, "TELEGRAM": {"BOT_USERNAME": "b"}}
    [error] = [m for m in TelegramMessenger.check() if m.id == "dsn_telegram.E001"]
    assert 'DSN["TELEGRAM"]["BOT_TOKEN"]' in error.msg and "DSN_TELEGRAM_BOT_TOKEN" in error.msg
    with pytest.raises(SystemCheckError, match=r"dsn_telegram\.E001"):
        call_command("check")


def test_check_reads_the_environment(settings, monkeypatch):
    settings.DSN = {**settings.DSN, "TELEGRAM": {"BOT_USERNAME": "b"}}
    monkeypatch.setenv("DSN_TELEGRAM_BOT_TOKEN", TOKEN)
    assert TelegramMessenger.check() == []


def test_check_flags_malformed_settings_without_echoing_the_token(settings):
    settings.DSN = {
        **settings.DSN,
        "TELEGRAM": {"BOT_TOKEN": "not-a-token-secretvalue", "WEBHOOK_SECRET": "a b", "API_BASE_URL": "ftp://x"},
    }
    messages = TelegramMessenger.check()
    assert {m.id for m in messages} == {
        "dsn_telegram.E002",
        "dsn_telegram.E003",
        "dsn_telegram.E004",
        "dsn_telegram.W001",
    }
    assert all("secretvalue" not in f"{m.msg} {m.hint}" for m in messages)


def test_good_settings_pass_the_checks(telegram_settings):
    assert TelegramMessenger.check() == []


@pytest.mark.django_db
def test_subscription_fixed_addresses_are_validated(make_flow):
    sub = make_flow(Article, messenger="telegram")
    sub.fixed_addresses = {"telegram": [" -100123 ", "@ops_channel"]}
    sub.full_clean()
    assert sub.fixed_addresses == {"telegram": ["-100123", "@ops_channel"]}
    sub.fixed_addresses = {"telegram": ["ops group"]}
    with pytest.raises(ValidationError, match="not a Telegram chat"):
        sub.full_clean()


@pytest.mark.django_db
def test_fixed_addresses_and_chat_id_option_reach_the_group(
    telegram_settings: Any,
    bot_api: FakeBotAPI,
    make_flow: Any,
    django_user_model: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    a = django_user_model.objects.create_user("a")
    b = django_user_model.objects.create_user("b")
    make_flow(
        Article,
        messenger="telegram",
        users=[a, b],
        options={"chat_id": "-100500"},
        fixed={"telegram": ["@ops_channel"]},
        text="{{ instance.title }}",
    )
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Deploy")
    # one message to the option's group however many receivers, one to the fixed channel
    assert sorted(s["chat_id"] for s in bot_api.sent()) == ["-100500", "@ops_channel"]
    assert sorted(Delivery.objects.values_list("address", "status")) == [("-100500", "sent"), ("@ops_channel", "sent")]


@pytest.mark.django_db
def test_pipeline_records_migration_and_blocked_users(
    telegram_settings: Any,
    bot_api: FakeBotAPI,
    make_flow: Any,
    django_user_model: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    group_user = django_user_model.objects.create_user("g")
    blocker = django_user_model.objects.create_user("x")
    addresses.set_address(group_user, "telegram", "-4001")
    addresses.set_address(blocker, "telegram", "666")

    def handler(req):
        chat = FakeBotAPI.params(req)["chat_id"]
        if chat == "-4001":
            return api_error(
                400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1009876
            )
        if chat == "666":
            return api_error(403, "Forbidden: bot was blocked by the user")
        return bot_api.send_message(req)

    bot_api.on_send(handler)
    make_flow(Article, messenger="telegram", users=[group_user, blocker])
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hi")
    moved = Delivery.objects.get(recipient=group_user)
    assert (moved.status, moved.address) == ("sent", "-1009876")
    blocked = Delivery.objects.get(recipient=blocker)
    assert blocked.status == "dead" and "blocked" in blocked.last_error
    assert addresses.get_address(group_user, "telegram") == "-1009876"
    assert addresses.get_address(blocker, "telegram") is None
    assert not Subscription.objects.get().fixed_addresses
