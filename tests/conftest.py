"""Shared fixtures for DSN's tests."""

from __future__ import annotations

import os
from typing import Any

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``dev.py test`` runs the suite twice, on SQLite and on PostgreSQL. A test marked
    ``own_database`` runs a site on a database it picks itself, so the second pass would repeat
    the first exactly: that pass sets ``DSN_TEST_SKIP_OWN_DATABASE`` and such tests skip, with
    the reason shown, instead of running twice."""
    if not os.environ.get("DSN_TEST_SKIP_OWN_DATABASE"):
        return
    skip = pytest.mark.skip(reason="picks its own database, so it already ran in the SQLite pass")
    for item in items:
        if item.get_closest_marker("own_database"):
            item.add_marker(skip)


@pytest.fixture
def admin_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")


@pytest.fixture
def make_flow(db: Any) -> Any:
    """Create a trigger + template + backend + subscription in one call."""
    from django.contrib.contenttypes.models import ContentType

    from dsn_core.models import Backend, MessageTemplate, Subscription, Trigger

    def make(
        model: Any = None,
        *,
        verb: str = "post_save",
        messenger: str = "locmem",
        users: Any = (),
        text: str = "{{ verb }}: {{ instance }}",
        subject: str = "Hi {{ recipient }}",
        conditions: Any = None,
        dynamic: Any = None,
        fixed: Any = None,
        options: Any = None,
        **trigger_kwargs: Any,
    ) -> Subscription:
        ct = ContentType.objects.get_for_model(model) if model is not None else None
        trigger = Trigger.objects.create(
            name=f"t-{verb}", verb=verb, action_object_type=ct, conditions=conditions or [], **trigger_kwargs
        )
        template = MessageTemplate.objects.create(name="tpl", subject=subject, text=text)
        backend = Backend.objects.create(
            name=f"b-{messenger}", messenger=messenger, template=template, options=options or {}
        )
        sub = Subscription.objects.create(trigger=trigger, dynamic_receivers=dynamic or [], fixed_addresses=fixed or {})
        sub.backends.add(backend)
        if users:
            sub.receiver_users.add(*users)
        return sub

    return make


# -- a real browser (Playwright driving Debian's chromium; never a browser download) ---------

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    """Debian's chromium (``apt-get install chromium``), or ``DSN_CHROMIUM`` if set."""
    import os
    import shutil

    return os.environ.get("DSN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Any:
    """A headless Chromium for the whole run; skips, with the reason, where it can't start."""
    import os

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests: playwright is not installed (dependency group 'test')")
    path = chromium_path()
    if not path:
        pytest.skip("browser tests: no chromium on PATH (apt-get install -y chromium)")
    # Playwright's sync API keeps an event loop in this thread; the tests' own ORM calls are
    # still synchronous, so Django's async-safety guard would refuse them.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        except Exception as exc:  # a broken install: say so instead of failing every test
            pytest.skip(f"browser tests: chromium at {path} did not start: {exc}")
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Any:
    """A fresh browser context and page per test (own cookies), closed afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def admin_login(page: Any, live_server: Any, admin_user: Any) -> Any:
    """Log ``admin``/``pw`` into the live server's admin in the browser; returns the page."""

    def login(username: str = "admin", password: str = "pw") -> Any:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        return page

    return login
