"""The plugin loader: real entry points from a distribution written to a temp dir."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from django.core.management import call_command

from dsn_core import hookimpl, plugins
from dsn_core.checks import check_plugins
from dsn_core.messengers import Messenger, SendResult


def _write_dist(root: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    info = root / f"{name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[dsn]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


GOOD = """
    from dsn_core import hookimpl
    from dsn_core.messengers import Messenger, SendResult

    class Pigeon(Messenger):
        key = "pigeon"
        label = "Carrier pigeon"

        def send(self, message):
            return SendResult(provider_id="coo")

    @hookimpl
    def register_messengers(register):
        register(Pigeon)
"""


@pytest.fixture
def fake_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _write_dist(
        tmp_path,
        "dsn-fakes",
        {"zz_good": "zz_good_plugin", "zz_broken": "zz_broken_plugin", "zz_typo": "zz_typo_plugin",
         "zz_zdupe": "zz_dupe_plugin", "zz_badarg": "zz_badarg_plugin"},
        {
            "zz_good_plugin": GOOD,
            "zz_broken_plugin": "raise ImportError('missing dependency: acme-sdk')\n",
            "zz_typo_plugin": """
                from dsn_core import hookimpl

                @hookimpl
                def register_messenger(register):
                    pass
            """,
            "zz_dupe_plugin": GOOD.replace("Carrier pigeon", "Another pigeon"),
            "zz_badarg_plugin": """
                from dsn_core import hookimpl

                @hookimpl
                def register_messengers(register, colour):
                    pass
            """,
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.reset()
    yield
    plugins.reset()


def _problems() -> dict[str, str]:
    return {p.plugin: p.reason for p in plugins.registry().problems}


def test_broken_plugins_are_isolated_and_named(fake_dists) -> None:
    reg = plugins.registry()
    problems = _problems()
    assert "failed to import" in problems["zz_broken"] and "acme-sdk" in problems["zz_broken"]
    assert "register_messenger" in problems["zz_typo"] and "misspelled" in problems["zz_typo"]
    assert "colour" in problems["zz_badarg"]
    assert "already registered by dsn-fakes" in problems["zz_zdupe"]
    # The good plugin and the built-ins still work.
    assert reg.messengers["pigeon"].label == "Carrier pigeon"
    assert "console" in reg.messengers and "locmem" in reg.messengers
    assert reg.plugins["zz_good"].distribution == "dsn-fakes"
    assert reg.plugins["zz_good"].version == "1.2.3"


def test_problems_are_system_check_errors_naming_the_distribution(fake_dists) -> None:
    errors = check_plugins()
    texts = [e.msg for e in errors]
    assert all(e.id == "dsn.E001" for e in errors)
    assert any("'zz_broken'" in t and "'dsn-fakes'" in t for t in texts)
    assert len(errors) == 4


def test_block_list_env_var(fake_dists, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSN_BLOCK_PLUGINS", "zz_broken,zz_typo,zz_zdupe,zz_badarg")
    plugins.reset()
    assert _problems() == {}
    assert "pigeon" in plugins.registry().messengers


def test_allow_list_setting(fake_dists, settings) -> None:
    settings.DSN = {**settings.DSN, "PLUGINS": ["zz_good"]}
    plugins.reset()
    reg = plugins.registry()
    assert set(reg.plugins) == {"dsn_core", "zz_good"}
    assert _problems() == {}


def test_dsn_plugins_command_lists_plugins_and_problems(fake_dists, capsys) -> None:
    call_command("dsn_plugins")
    out = capsys.readouterr().out
    assert "dsn-fakes" in out and "pigeon" in out and "zz_broken" in out


def test_dsn_plugin_fixture_registers_for_one_test(dsn_plugin) -> None:
    class Owl(Messenger):
        key = "owl"
        label = "Owl post"

        def send(self, message):
            return SendResult()

    class Plugin:
        @hookimpl
        def register_messengers(self, register):
            register(Owl)

    assert plugins.get_messenger_class("owl") is None
    dsn_plugin("owl-plugin", Plugin())
    assert plugins.get_messenger_class("owl") is Owl
    assert ("owl", "Owl post") in plugins.messenger_choices()


def test_fixture_cleanup_removed_the_plugin() -> None:
    assert plugins.get_messenger_class("owl") is None


def test_a_register_hook_that_raises_is_contained(dsn_plugin) -> None:
    class Plugin:
        @hookimpl
        def register_template_engines(self, register):
            raise RuntimeError("boom")

    dsn_plugin("exploding", Plugin())
    problems = _problems()
    assert "RuntimeError: boom" in problems["exploding"]
    assert plugins.get_engine("django") is not None


class _NeedsKey(Messenger):
    key = "needskey"
    label = "Needs a key"

    @classmethod
    def check(cls):
        from django.core.checks import Error

        return [Error("set DSN['NEEDSKEY']['API_KEY']", id="needskey.E001")]

    def send(self, message):
        return SendResult()


class _NeedsKeyPlugin:
    @hookimpl
    def register_messengers(self, register):
        register(_NeedsKey)


def test_an_unconfigured_plugin_warns_once_and_a_configured_one_errors(dsn_plugin, settings) -> None:
    from dsn_core.checks import check_messengers

    dsn_plugin("needskey", _NeedsKeyPlugin())
    mine = [m for m in check_messengers() if "needskey" in m.msg.lower() or "NEEDSKEY" in m.msg]
    assert [(m.id, m.is_serious()) for m in mine] == [("dsn.W002", False)]  # the site still starts
    settings.DSN = {**settings.DSN, "NEEDSKEY": {}}  # the site started configuring it: now it is an error
    mine = [m for m in check_messengers() if "NEEDSKEY" in m.msg]
    assert [(m.id, m.is_serious()) for m in mine] == [("needskey.E001", True)]
