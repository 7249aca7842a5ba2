"""The backend form with JavaScript off: only the chosen channel's settings show, and a button
re-renders the form for another channel without saving."""

from __future__ import annotations

from typing import Any

import pytest

from dsn_core.models import Backend, MessageTemplate

pytestmark = pytest.mark.django_db(transaction=True)


def test_without_javascript_a_button_shows_the_chosen_channels_settings(
    browser: Any, live_server: Any, admin_user: Any
) -> None:
    MessageTemplate.objects.create(name="Hello", text="hi")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.goto(f"{live_server.url}/admin/dsn_core/backend/add/")
        page.select_option("#id_messenger", "console")
        page.fill("#id_name", "Printer")
        page.select_option("#id_template", label="Hello")
        page.click("button[name=_dsn_refresh]")
        assert "Showing the settings of Console (print). Nothing was saved" in page.inner_text("#content")
        assert page.locator("fieldset.dsn-options-console").is_visible()
        assert not page.locator("fieldset.dsn-options-email").is_visible()
        assert not Backend.objects.exists()
        page.select_option("select[name=options__console__stream]", "stderr")
        page.click("input[name=_save]")
        page.wait_for_url(f"{live_server.url}/admin/dsn_core/backend/")
        assert Backend.objects.get().options == {"stream": "stderr"}
    finally:
        context.close()
