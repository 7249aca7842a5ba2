"""The telegram messenger against a fake Bot API, through the real PTB client."""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from dsn_telegram.errors import retry_after_seconds, translate
from dsn_telegram.messenger import TelegramMessenger
from telegram import error as tg

from dsn_core import addresses
from dsn_core.errors import ConfigurationError, PermanentError, TransientError
from dsn_core.messengers import Message, RateLimit, SendResult
from dsn_core.testing import MessengerContract

from .conftest import TOKEN, FakeBotAPI, api_error

pytestmark = pytest.mark.django_db


def msg(address: str = "4242", text: str = "hello", subject: str = "") -> Message:
    return Message(address=address, subject=subject, text=text, delivery_id=7)


class TestContract(MessengerContract):
    @pytest.fixture
    def messenger(self, telegram_settings: Any) -> TelegramMessenger:
        return TelegramMessenger({})

    @pytest.fixture
    def address(self) -> str:
        return "4242"

    @pytest.fixture
    def received(self, bot_api: FakeBotAPI) -> Any:
        return bot_api.sent


def test_send_posts_to_the_chat_and_returns_the_message_id(telegram_settings, bot_api):
    [outcome] = TelegramMessenger({}).send_batch([msg("4242", "hi there")])
    assert isinstance(outcome, SendResult)
    assert outcome.provider_id == "1000"
    [sent] = bot_api.sent()
    assert sent["chat_id"] == "4242" and sent["text"] == "hi there"
    assert "parse_mode" not in sent
    assert [r.path for r in bot_api.server.requests] == [f"/bot{TOKEN}/sendMessage"]  # no getMe per batch


def test_batch_uses_one_loop_and_keeps_order(telegram_settings, bot_api):
    messenger = TelegramMessenger({"silent": "true"})
    outcomes = messenger.send_batch([msg("1", "a"), msg("2", "b"), msg("-1001", "c")])
    assert [o.provider_id for o in outcomes] == ["1000", "1001", "1002"]
    assert [(s["chat_id"], s["text"], s["disable_notification"]) for s in bot_api.sent()] == [
        ("1", "a", "true"),
        ("2", "b", "true"),
        ("-1001", "c", "true"),
    ]
    # a second batch (a new event loop) works too: no "Event loop is closed"
    assert isinstance(messenger.send(msg("3", "d")), SendResult)


def test_show_subject_puts_the_escaped_subject_in_bold(telegram_settings, bot_api):
    TelegramMessenger({"parse_mode": "HTML", "show_subject": True}).send_batch([msg(subject="A<B", text="body")])
    [sent] = bot_api.sent()
    assert sent["text"] == "<b>A&lt;B</b>\n\nbody" and sent["parse_mode"] == "HTML"


def test_empty_text_is_permanent_and_sends_nothing(telegram_settings, bot_api):
    [outcome] = TelegramMessenger({}).send_batch([msg(text="  ")])
    assert isinstance(outcome, PermanentError)
    assert bot_api.sent() == []


def test_long_message_is_split(telegram_settings, bot_api):
    text = "\n".join(f"line {i:05d} " + "x" * 80 for i in range(120))  # about 11,000 characters
    [outcome] = TelegramMessenger({}).send_batch([msg(text=text)])
    parts = [s["text"] for s in bot_api.sent()]
    assert len(parts) == 3
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(parts) == text
    assert outcome.provider_id == "1000,1001,1002"


# -- errors ------------------------------------------------------------------------------


def test_retry_after_is_transient_with_its_delay_and_stops_the_batch(telegram_settings, bot_api):
    bot_api.on_send(lambda req: api_error(429, "Too Many Requests: retry after 17", retry_after=17))
    outcomes = TelegramMessenger({}).send_batch([msg("1"), msg("2")])
    assert all(isinstance(o, TransientError) for o in outcomes)
    assert [o.retry_after for o in outcomes] == [17.0, 17.0]
    assert len(bot_api.sent()) == 1  # the second was not attempted


def test_retry_after_is_read_without_the_deprecation_warning():
    exc = tg.RetryAfter(12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert retry_after_seconds(exc) == 12.0
        assert translate(exc).retry_after == 12.0


def test_forbidden_is_permanent_and_deactivates_the_address(telegram_settings, bot_api, django_user_model):
    user = django_user_model.objects.create_user("ada")
    addresses.set_address(user, "telegram", "4242")
    bot_api.on_send(lambda req: api_error(403, "Forbidden: bot was blocked by the user"))
    [outcome] = TelegramMessenger({}).send_batch([msg("4242")])
    assert isinstance(outcome, PermanentError)
    assert "blocked" in str(outcome)
    assert addresses.get_address(user, "telegram") is None
    assert not user.dsn_addresses.get().active


def test_chat_not_found_is_permanent(telegram_settings, bot_api):
    bot_api.on_send(lambda req: api_error(400, "Bad Request: chat not found"))
    [outcome] = TelegramMessenger({}).send_batch([msg("999")])
    assert isinstance(outcome, PermanentError) and "chat not found" in str(outcome).lower()


def test_one_unknown_chat_in_a_batch_fails_only_itself(telegram_settings, bot_api):
    def answer(req):
        if str(bot_api.params(req)["chat_id"]) == "999":
            return api_error(400, "Bad Request: chat not found")
        return bot_api.send_message(req)

    bot_api.on_send(answer)
    outcomes = TelegramMessenger({}).send_batch([msg("4242"), msg("999"), msg("4343")])
    assert [type(o) for o in outcomes] == [SendResult, PermanentError, SendResult]
    assert [str(p["chat_id"]) for p in bot_api.sent()] == ["4242", "999", "4343"]


def test_an_error_text_echoing_the_token_is_scrubbed(telegram_settings, bot_api):
    bot_api.on_send(lambda req: api_error(400, f"Bad Request: wrong bot{TOKEN} in chat"))
    [bad] = TelegramMessenger({}).send_batch([msg()])
    bot_api.on_send(lambda req: api_error(502, f"Bad Gateway at /bot{TOKEN}/sendMessage"))
    [down] = TelegramMessenger({}).send_batch([msg()])
    assert isinstance(bad, PermanentError) and isinstance(down, TransientError)
    assert TOKEN not in str(bad) and TOKEN not in str(down)


def test_bad_markup_is_permanent(telegram_settings, bot_api):
    bot_api.on_send(lambda req: api_error(400, "Bad Request: can't parse entities"))
    [outcome] = TelegramMessenger({"parse_mode": "HTML"}).send_batch([msg(text="<b>")])
    assert isinstance(outcome, PermanentError)


def test_chat_migrated_moves_the_address_and_resends(telegram_settings, bot_api, django_user_model):
    user = django_user_model.objects.create_user("ops")
    addresses.set_address(user, "telegram", "-4001")

    def handler(req):
        if FakeBotAPI.params(req)["chat_id"] == "-4001":
            return api_error(
                400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1009876
            )
        return bot_api.send_message(req)

    bot_api.on_send(handler)
    [outcome] = TelegramMessenger({}).send_batch([msg("-4001", "moved?")])
    assert isinstance(outcome, SendResult)
    assert outcome.new_address == "-1009876"
    assert [s["chat_id"] for s in bot_api.sent()] == ["-4001", "-1009876"]
    assert addresses.get_address(user, "telegram") == "-1009876"


def test_invalid_token_is_a_configuration_error_without_the_token(telegram_settings, bot_api, caplog):
    bot_api.on_send(lambda req: api_error(401, "Unauthorized"))
    with caplog.at_level(logging.DEBUG):
        outcomes = TelegramMessenger({}).send_batch([msg("1"), msg("2")])
    assert all(isinstance(o, ConfigurationError) for o in outcomes)
    assert "BOT_TOKEN" in str(outcomes[0])
    assert len(bot_api.sent()) == 1
    for text in [str(o) for o in outcomes] + [r.getMessage() for r in caplog.records]:
        assert TOKEN not in text and TOKEN.split(":")[1] not in text


def test_timeout_is_transient(telegram_settings, bot_api, settings):
    settings.DSN["TELEGRAM"]["TIMEOUT"] = 0.3
    release = threading.Event()

    def slow(req):
        release.wait(10)
        return bot_api.send_message(req)

    bot_api.on_send(slow)
    try:
        [outcome] = TelegramMessenger({}).send_batch([msg()])
    finally:
        release.set()
    assert isinstance(outcome, TransientError) and "timed out" in str(outcome).lower()


def test_server_error_is_transient(telegram_settings, bot_api):
    bot_api.on_send(lambda req: api_error(502, "Bad Gateway"))
    [outcome] = TelegramMessenger({}).send_batch([msg()])
    assert isinstance(outcome, TransientError) and not isinstance(outcome, ConfigurationError)


def test_server_down_is_transient_and_the_token_is_scrubbed(telegram_settings, bot_api):
    bot_api.server.stop()
    [outcome] = TelegramMessenger({}).send_batch([msg()])
    assert isinstance(outcome, TransientError)
    assert TOKEN not in str(outcome)


def test_missing_token_is_a_configuration_error(settings, bot_api):
    settings.DSN = {**settings.DSN, "TELEGRAM": {"API_BASE_URL": bot_api.url}}
    [outcome] = TelegramMessenger({}).send_batch([msg()])
    assert isinstance(outcome, ConfigurationError) and "BOT_TOKEN" in str(outcome)
    assert bot_api.server.requests == []


def test_scrub_removes_token_from_ptb_messages(telegram_settings):
    error = translate(tg.NetworkError(f"httpx.ConnectError: http://127.0.0.1:1/bot{TOKEN}/sendMessage"))
    assert TOKEN not in str(error) and "<token>" in str(error)


# -- options, addresses, limits ----------------------------------------------------------


@pytest.mark.parametrize(
    "address, expected",
    [("12345", "12345"), (" -1001234567890 ", "-1001234567890"), ("@ops_channel", "@ops_channel"), ("007", "7")],
)
def test_clean_address_accepts_chat_ids_and_channel_names(address, expected):
    assert TelegramMessenger.clean_address(address) == expected


@pytest.mark.parametrize("address", ["", "abc", "@ab", "12a", "0", "@1channel", "+44123"])
def test_clean_address_rejects_others(address):
    with pytest.raises(ValidationError):
        TelegramMessenger.clean_address(address)


def test_options_are_validated():
    with pytest.raises(ValidationError) as info:
        TelegramMessenger({"parse_mode": "Markdown"})
    assert "parse_mode" in " ".join(info.value.messages)
    with pytest.raises(ValidationError) as info:
        TelegramMessenger({"chat_id": "not a chat"})
    assert "chat_id" in " ".join(info.value.messages)
    cleaned = TelegramMessenger.clean_options({"chat_id": " -100123 ", "silent": "no"})
    assert cleaned == {"chat_id": "-100123", "silent": False, "show_subject": False, "parse_mode": "plain"}


def test_rate_limits_depend_on_the_chat():
    messenger = TelegramMessenger({})
    assert set(messenger.rate_limits_for("4242")) == {RateLimit(30, 1.0), RateLimit(1, 1.0, "address")}
    assert set(messenger.rate_limits_for("-1001")) == {RateLimit(30, 1.0), RateLimit(20, 60.0, "address")}
    assert RateLimit(20, 60.0, "address") in messenger.rate_limits_for("@ops_channel")


def test_chat_id_option_replaces_user_addresses(db, django_user_model):
    a = django_user_model.objects.create_user("a")
    b = django_user_model.objects.create_user("b")
    addresses.set_address(a, "telegram", "111")
    assert TelegramMessenger({}).addresses_for([a, b]) == {a.pk: "111"}
    assert TelegramMessenger({}).backend_addresses() == []
    fixed = TelegramMessenger({"chat_id": "-100500"})
    assert fixed.backend_addresses() == ["-100500"]  # the core then sends to the chat, not to users


def test_one_open_messenger_sends_many_batches_in_one_loop(telegram_settings, bot_api):
    messenger = TelegramMessenger({})
    with messenger:
        session = messenger._session
        first = messenger.send_batch([Message(address="7", subject="", text="one", delivery_id=1)])
        second = messenger.send_batch([Message(address="8", subject="", text="two", delivery_id=2)])
        assert messenger._session is session is not None  # the same loop and bot for both batches
    assert messenger._session is None
    assert [type(o).__name__ for o in first + second] == ["SendResult", "SendResult"]
    assert [s["text"] for s in bot_api.sent()] == ["one", "two"]
