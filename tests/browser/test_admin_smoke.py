"""The admin in a real browser: a superuser logs in and finds DSN's models."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_index_lists_dsn_models(admin_login: Any, live_server: Any) -> None:
    page = admin_login()
    page.goto(f"{live_server.url}/admin/dsn_core/")
    headings = page.locator("table caption, #content h1").all_inner_texts()
    assert any("DSN" in h or "Dsn" in h for h in headings), headings
    for name in ("Triggers", "Backends", "Subscriptions", "Message templates"):
        assert page.get_by_role("link", name=name, exact=True).count() >= 1, name
