"""Linking a chat to a user: the Connect page, the webhook and the polling command."""

from __future__ import annotations

import re
import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from dsn_telegram import linking

from dsn_core import addresses
from dsn_core.tokens import make_token

from .conftest import SECRET, TOKEN, USERNAME, FakeBotAPI, api_error, private_update

pytestmark = pytest.mark.django_db
WEBHOOK = "/dsn/telegram/webhook/"


@pytest.fixture
def ada(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("ada", password="pw")


def post_update(client: Any, update: dict[str, Any], secret: str | None = SECRET) -> Any:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    return client.post(WEBHOOK, update, content_type="application/json", headers=headers)


def flip_last(token: str) -> str:
    return token[:-1] + ("B" if token[-1] == "A" else "A")


def payload_from(page: str) -> str:
    match = re.search(rf"https://t\.me/{USERNAME}\?start=([A-Za-z0-9_-]+)", page)
    assert match, page
    return match.group(1)


# -- the Connect page ----------------------------------------------------------------------


def test_urls_are_mounted_through_the_hook():
    assert reverse("dsn_core:dsn_telegram_webhook") == WEBHOOK
    assert reverse("dsn_core:dsn_telegram_connect") == "/dsn/telegram/connect/"


def test_connect_page_needs_login(client, telegram_settings):
    response = client.get("/dsn/telegram/connect/")
    assert response.status_code == 302 and "login" in response["Location"]


def test_connect_page_shows_a_fresh_short_deep_link(client, ada, telegram_settings):
    client.force_login(ada)
    page = client.get("/dsn/telegram/connect/").content.decode()
    payload = payload_from(page)
    assert len(payload) <= 64
    assert TOKEN not in page
    assert linking.consume_token(linking.PURPOSE, payload, max_age=60) == str(ada.pk)


def test_connect_page_without_bot_username_says_what_to_set(client, ada, telegram_settings, settings):
    settings.DSN["TELEGRAM"].pop("BOT_USERNAME")
    client.force_login(ada)
    page = client.get("/dsn/telegram/connect/").content.decode()
    assert "BOT_USERNAME" in page and "t.me" not in page


def test_connect_page_disconnects(client, ada, telegram_settings):
    addresses.set_address(ada, "telegram", "4242")
    client.force_login(ada)
    assert "Disconnect" in client.get("/dsn/telegram/connect/").content.decode()
    client.post("/dsn/telegram/connect/", {"action": "disconnect"})
    assert addresses.get_address(ada, "telegram") is None


# -- the webhook -----------------------------------------------------------------------------


def test_webhook_links_the_chat_and_replies(client, ada, telegram_settings):
    client.force_login(ada)
    payload = payload_from(client.get("/dsn/telegram/connect/").content.decode())
    client.logout()
    response = post_update(client, private_update(1, 4242, f"/start {payload}"))
    assert response.status_code == 200
    body = response.json()
    assert body["method"] == "sendMessage" and body["chat_id"] == 4242 and "connected" in body["text"]
    assert addresses.get_address(ada, "telegram") == "4242"
    assert ada.dsn_addresses.get().verified


def test_webhook_with_a_wrong_secret_changes_nothing(client, ada, telegram_settings):
    payload = linking.link_payload(ada)
    for secret in ("wrong", None, ""):
        response = post_update(client, private_update(1, 4242, f"/start {payload}"), secret=secret)
        assert response.status_code == 403
    assert addresses.get_address(ada, "telegram") is None
    # the payload was not consumed by the refused calls
    assert post_update(client, private_update(2, 4242, f"/start {payload}")).json()["chat_id"] == 4242
    assert addresses.get_address(ada, "telegram") == "4242"


def test_webhook_is_off_without_a_secret(client, ada, telegram_settings, settings):
    settings.DSN["TELEGRAM"]["WEBHOOK_SECRET"] = ""
    response = post_update(client, private_update(1, 4242, f"/start {linking.link_payload(ada)}"), secret="")
    assert response.status_code == 404
    assert addresses.get_address(ada, "telegram") is None


def test_webhook_rejects_get_and_bad_json(client, telegram_settings):
    assert client.get(WEBHOOK).status_code == 405
    response = client.post(
        WEBHOOK, "{nope", content_type="application/json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert response.status_code == 400


def test_replayed_payload_is_refused(client, ada, django_user_model, telegram_settings):
    payload = linking.link_payload(ada)
    assert "connected" in post_update(client, private_update(1, 4242, f"/start {payload}")).json()["text"]
    reply = post_update(client, private_update(2, 5555, f"/start {payload}")).json()
    assert "already used" in reply["text"]
    assert addresses.get_address(ada, "telegram") == "4242"  # the second chat did not take over


def test_expired_payload_is_refused(client, ada, telegram_settings):
    old = make_token(linking.PURPOSE, str(ada.pk), now=time.time() - 3601)
    reply = post_update(client, private_update(1, 4242, f"/start {old}")).json()
    assert "expired" in reply["text"]
    assert addresses.get_address(ada, "telegram") is None


def test_forged_payload_and_other_purposes_are_refused(client, ada, telegram_settings):
    unsubscribe_token = make_token("unsubscribe", str(ada.pk))
    for payload in ("garbage", unsubscribe_token, flip_last(linking.link_payload(ada))):
        reply = post_update(client, private_update(1, 4242, f"/start {payload}")).json()
        assert "not valid" in reply["text"]
    assert addresses.get_address(ada, "telegram") is None


def test_inactive_user_cannot_link(client, ada, telegram_settings):
    ada.is_active = False
    ada.save()
    reply = post_update(client, private_update(1, 4242, f"/start {linking.link_payload(ada)}")).json()
    assert "inactive" in reply["text"]
    assert not ada.dsn_addresses.exists()


def test_start_without_payload_explains(client, telegram_settings):
    assert "Connect Telegram" in post_update(client, private_update(1, 4242, "/start")).json()["text"]


def test_groups_cannot_link(client, ada, telegram_settings):
    update = private_update(1, -100777, f"/start@{USERNAME} {linking.link_payload(ada)}", chat_type="supergroup")
    assert "private chat" in post_update(client, update).json()["text"]
    assert addresses.get_address(ada, "telegram") is None


def test_commands_for_other_bots_and_plain_text_are_ignored(client, ada, telegram_settings):
    assert post_update(client, private_update(1, 4242, f"/start@other_bot {linking.link_payload(ada)}")).json() == {}
    assert post_update(client, private_update(2, 4242, "hello")).json() == {}
    assert post_update(client, {"update_id": 3, "edited_message": {}}).json() == {}
    assert addresses.get_address(ada, "telegram") is None


def test_stop_unlinks(client, ada, telegram_settings):
    addresses.set_address(ada, "telegram", "4242")
    assert "disconnected" in post_update(client, private_update(1, 4242, "/stop")).json()["text"]
    assert addresses.get_address(ada, "telegram") is None
    assert "not connected" in post_update(client, private_update(2, 4242, "/stop")).json()["text"]


def test_link_then_receive_a_notification(
    client, ada, telegram_settings, bot_api, make_flow, dsn_flush, django_capture_on_commit_callbacks
):
    from tests.testapp.models import Article

    post_update(client, private_update(1, 4242, f"/start {linking.link_payload(ada)}"))
    make_flow(Article, messenger="telegram", users=[ada], text="New article: {{ instance.title }}")
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hello")
    dsn_flush()
    from dsn_core.models import Delivery

    assert list(Delivery.objects.values_list("status", "address", "last_error")) == [("sent", "4242", "")]
    assert [(s["chat_id"], s["text"]) for s in bot_api.sent()] == [("4242", "New article: Hello")]


# -- polling ---------------------------------------------------------------------------------


def test_poll_once_links_and_replies(ada, django_user_model, telegram_settings, bot_api):
    bob = django_user_model.objects.create_user("bob")
    addresses.set_address(bob, "telegram", "777")
    bot_api.updates = [
        private_update(10, 4242, f"/start {linking.link_payload(ada)}"),
        private_update(11, 777, "/stop"),
        private_update(12, 9999, "just chatting"),
    ]
    out = StringIO()
    call_command("dsn_telegram_poll", "--once", stdout=out)
    assert addresses.get_address(ada, "telegram") == "4242"
    assert addresses.get_address(bob, "telegram") is None
    replies = {s["chat_id"]: s["text"] for s in bot_api.sent()}
    assert set(replies) == {"4242", "777"}
    assert "connected" in replies["4242"] and "disconnected" in replies["777"]
    assert "chat 4242: linked" in out.getvalue()
    # the last call confirmed every update, so Telegram would not send them again
    offsets = [FakeBotAPI.params(r).get("offset") for r in bot_api.get_updates_calls]
    assert offsets[-1] in (13, "13")
    assert bot_api.updates == []


def test_poll_once_with_a_replayed_payload(ada, telegram_settings, bot_api):
    payload = linking.link_payload(ada)
    bot_api.updates = [private_update(1, 4242, f"/start {payload}"), private_update(2, 5555, f"/start {payload}")]
    call_command("dsn_telegram_poll", "--once", stdout=StringIO())
    replies = [(s["chat_id"], s["text"]) for s in bot_api.sent()]
    assert replies[0][0] == "4242" and "connected" in replies[0][1]
    assert replies[1][0] == "5555" and "already used" in replies[1][1]
    assert addresses.get_address(ada, "telegram") == "4242"


def test_poll_conflict_with_a_webhook_is_a_command_error(telegram_settings, bot_api):
    bot_api.server.route(
        "POST",
        rf"/bot{TOKEN}/getUpdates",
        lambda req: api_error(409, "Conflict: can't use getUpdates method while webhook is active"),
    )
    with pytest.raises(CommandError, match="webhook"):
        call_command("dsn_telegram_poll", "--once", stdout=StringIO())


def test_poll_with_a_bad_token_is_a_command_error_without_the_token(telegram_settings, bot_api, settings):
    settings.DSN["TELEGRAM"]["BOT_TOKEN"] = "987654321:AAwrong_token_0123456789abcdef"
    with pytest.raises(CommandError) as info:
        call_command("dsn_telegram_poll", "--once", stdout=StringIO())
    assert "BOT_TOKEN" in str(info.value) and "AAwrong" not in str(info.value)


def test_poll_with_the_server_down_is_a_command_error(telegram_settings, bot_api):
    bot_api.server.stop()
    with pytest.raises(CommandError) as info:
        call_command("dsn_telegram_poll", "--once", stdout=StringIO())
    assert TOKEN not in str(info.value)
