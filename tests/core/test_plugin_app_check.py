"""``check`` warns when a plugin's pages are mounted but its Django app is not installed."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from dsn_core.checks import check_plugin_apps


def without(settings: Any, app: str) -> None:
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != app]


def test_a_mounted_plugin_without_its_app_is_named_with_the_fix(settings: Any) -> None:
    without(settings, "dsn_telegram")
    (warning,) = check_plugin_apps()
    assert warning.id == "dsn.W011" and warning.level == 30  # a warning: the site still starts
    assert "'telegram'" in warning.msg and "'dsn-telegram'" in warning.msg and "TemplateDoesNotExist" in warning.msg
    assert warning.hint == "Add 'dsn_telegram' to INSTALLED_APPS."


@pytest.mark.django_db  # on Django 6.1, `check` asks the database whether it supports JSONField
def test_manage_py_check_prints_it(settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    without(settings, "dsn_telegram")
    call_command("check")
    assert "dsn.W011" in capsys.readouterr().err


def test_plugins_without_an_app_need_none(settings: Any) -> None:
    """dsn_sms mounts its status callback but has no app (no templates, no models): nothing to add."""
    without(settings, "dsn_sms")
    assert check_plugin_apps() == []


def test_no_warning_when_installed_or_not_mounted(settings: Any) -> None:
    assert check_plugin_apps() == []
    without(settings, "dsn_telegram")
    settings.ROOT_URLCONF = "tests.testapp.urls_without_dsn"
    assert check_plugin_apps() == []
