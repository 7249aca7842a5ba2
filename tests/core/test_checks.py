"""System checks of DSN's own settings: a mistyped name always, BASE_URL with --deploy."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks


def ids(*, deploy: bool = False) -> list[str]:
    return [m.id for m in checks.run_checks(tags=["dsn"], include_deployment_checks=deploy) if m.id.startswith("dsn.")]


def test_a_mistyped_setting_is_reported_by_plain_check(settings: Any) -> None:
    settings.DSN = {**settings.DSN, "RETENTON_DAYS": 30}
    [message] = [m for m in checks.run_checks(tags=["dsn"]) if m.id == "dsn.W001"]
    assert message.msg == "Unknown DSN setting(s): RETENTON_DAYS."


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://example.test", []),
        ("http://example.test", ["dsn.W004"]),
        ("", ["dsn.W003"]),
    ],
)
def test_deploy_checks_the_base_url(settings: Any, base_url: str, expected: list[str]) -> None:
    settings.DSN = {**settings.DSN, "BASE_URL": base_url}
    found = [i for i in ids(deploy=True) if i in ("dsn.W003", "dsn.W004")]
    assert found == expected
    assert not [i for i in ids() if i in ("dsn.W003", "dsn.W004")]  # only with --deploy


def test_no_base_url_needed_when_dsn_urls_are_not_mounted(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.testapp.urls_without_dsn"
    settings.DSN = {**settings.DSN, "BASE_URL": ""}
    assert "dsn.W003" not in ids(deploy=True)
