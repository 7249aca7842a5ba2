"""A channel whose settings are missing is marked in the dropdown and refused, in a real browser."""

from __future__ import annotations

from typing import Any

import pytest

from dsn_core.models import Backend, MessageTemplate

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_unconfigured_channel_is_marked_and_refused(admin_login: Any, live_server: Any, settings: Any) -> None:
    settings.DSN = {k: v for k, v in settings.DSN.items() if k != "TELEGRAM"}
    MessageTemplate.objects.create(name="Hello", text="hi")
    page = admin_login()
    page.goto(f"{live_server.url}/admin/dsn_core/backend/add/")
    label = page.locator("#id_messenger option[value=telegram]").inner_text()
    assert label.startswith("Telegram — not configured: No bot token. Set settings.DSN"), label
    assert page.locator("#id_messenger option[value=console]").inner_text() == "Console (print)"
    page.fill("#id_name", "Ops chat")
    page.select_option("#id_messenger", "console")
    assert not page.locator(".field-save_anyway").is_visible()  # only offered for a channel not configured
    page.select_option("#id_messenger", "telegram")
    assert page.locator(".field-save_anyway").is_visible()
    assert page.locator("fieldset.dsn-options-telegram .dsn-not-ready").is_visible()
    page.select_option("#id_template", label="Hello")
    page.click("input[name=_save]")
    error = page.locator(".field-messenger .errorlist").inner_text()
    assert "Telegram is not configured: No bot token. Set settings.DSN" in error
    assert "BOT_TOKEN" in error and "save even if the channel is not configured" in error
    assert not Backend.objects.exists()
    # a staging site may save it anyway, explicitly
    page.check("#id_save_anyway")
    page.click("input[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/dsn_core/backend/")
    assert Backend.objects.get().messenger == "telegram"
