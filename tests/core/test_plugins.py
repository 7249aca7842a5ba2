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
        {
            "zz_good": "zz_good_plugin",
            "zz_broken": "zz_broken_plugin",
            "zz_typo": "zz_typo_plugin",
            "zz_zdupe": "zz_dupe_plugin",
            "zz_badarg": "zz_badarg_plugin",
        },
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
    monkeypatch.undo()  # first: reset() may load the plugins again at once (verbs re-index)
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


def test_problems_are_system_check_warnings_naming_the_distribution_and_the_fix(fake_dists) -> None:
    found = check_plugins()
    assert [m.id for m in found] == ["dsn.W010"] * 4
    assert not any(m.is_serious() for m in found)  # no command refuses to start
    broken = next(m for m in found if "'zz_broken'" in m.msg)
    assert "'dsn-fakes'" in broken.msg and "acme-sdk" in broken.msg
    assert "DSN['BLOCK_PLUGINS'] = ['zz_broken']" in broken.hint and "DSN_BLOCK_PLUGINS=zz_broken" in broken.hint
    assert "STRICT_PLUGINS" in broken.hint


def test_strict_plugins_makes_them_errors(fake_dists, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.DSN = {**settings.DSN, "STRICT_PLUGINS": True}
    found = check_plugins()
    assert [(m.id, m.is_serious()) for m in found] == [("dsn.E001", True)] * 4
    settings.DSN = {k: v for k, v in settings.DSN.items() if k != "STRICT_PLUGINS"}
    monkeypatch.setenv("DSN_STRICT_PLUGINS", "1")
    assert {m.id for m in check_plugins()} == {"dsn.E001"}
    monkeypatch.setenv("DSN_STRICT_PLUGINS", "off")
    assert {m.id for m in check_plugins()} == {"dsn.W010"}


def test_broken_plugins_are_exposed_for_the_admin(fake_dists) -> None:
    broken = plugins.broken()
    assert set(broken) == {"zz_broken", "zz_typo", "zz_zdupe", "zz_badarg"}
    by_name = {p["name"]: p for p in plugins.report()}
    assert by_name["zz_broken"]["status"] == "broken"
    assert "DSN['BLOCK_PLUGINS'] = ['zz_broken']" in by_name["zz_broken"]["fix"]
    assert by_name["zz_good"]["status"] == "ok" and by_name["zz_good"]["fix"] == ""


@pytest.mark.django_db
def test_the_other_plugins_send_while_one_is_broken(fake_dists, django_capture_on_commit_callbacks) -> None:
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType

    from dsn_core.api import set_address
    from dsn_core.models import Backend, Delivery, MessageTemplate, Subscription, Trigger
    from dsn_core.testing import flush

    assert plugins.broken()  # four broken plugins are installed
    ann = User.objects.create_user("ann")
    set_address(ann, "pigeon", "loft-1")
    trigger = Trigger.objects.create(
        name="new user", verb="post_save", action_object_type=ContentType.objects.get_for_model(User)
    )
    template = MessageTemplate.objects.create(name="hello", text="Hello {{ instance.username }}")
    subscription = Subscription.objects.create(trigger=trigger)
    subscription.backends.add(Backend.objects.create(name="coo", messenger="pigeon", template=template))
    subscription.receiver_users.add(ann)
    with django_capture_on_commit_callbacks(execute=True):
        User.objects.create_user("bob")
    flush()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.provider_id) == ("sent", "coo")


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
    broken = out[out.index("zz_broken") :]
    assert "BROKEN" in broken.splitlines()[0] and "fix: " in broken and "acme-sdk" in broken


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


# -- a real manage.py with broken plugins installed ------------------------------------------------

SITE = Path(__file__).resolve().parents[2] / ".ci" / "minimal_site"


def _manage(tmp_path: Path, *args: str, **env: str):
    import os
    import subprocess
    import sys

    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DSN_", "DJANGO_SETTINGS"))}
    environ.update(PYTHONPATH=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=SITE, env=environ, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def broken_dists(tmp_path: Path) -> Path:
    _write_dist(
        tmp_path,
        "dsn-broken",
        {"zz_broken": "zz_broken_plugin", "zz_typo": "zz_typo_plugin", "zz_zdupe": "zz_dupe_plugin"},
        {
            "zz_broken_plugin": "raise ImportError('missing dependency: acme-sdk')\n",
            "zz_typo_plugin": "from dsn_core.api import hookimpl\n\n@hookimpl\ndef register_messenger(register):\n"
            "    pass\n",
            "zz_dupe_plugin": GOOD.replace('"pigeon"', '"console"'),
        },
    )
    return tmp_path


def test_manage_py_starts_with_broken_plugins_installed(broken_dists: Path) -> None:
    """migrate, check and dsn_plugins exit 0, and check names each broken distribution and the fix."""
    migrate = _manage(broken_dists, "migrate", "-v0")
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    check = _manage(broken_dists, "check")
    assert check.returncode == 0, check.stderr[-3000:]
    text = check.stdout + check.stderr
    for name in ("zz_broken", "zz_typo", "zz_zdupe"):
        assert f"DSN plugin '{name}' from distribution 'dsn-broken' is broken" in text, text
        assert f"DSN['BLOCK_PLUGINS'] = ['{name}']" in text
    assert "dsn.W010" in text and "dsn.E001" not in text
    listing = _manage(broken_dists, "dsn_plugins")
    assert listing.returncode == 0, listing.stderr[-3000:]
    assert "zz_broken  (dsn-broken 1.2.3)  BROKEN" in listing.stdout and "console" in listing.stdout


def test_manage_py_check_fails_in_strict_mode(broken_dists: Path) -> None:
    check = _manage(broken_dists, "check", DSN_STRICT_PLUGINS="1")
    assert check.returncode == 1
    assert "dsn.E001" in check.stderr and "zz_broken" in check.stderr


def test_blocking_the_broken_plugins_silences_them(broken_dists: Path) -> None:
    check = _manage(broken_dists, "check", DSN_BLOCK_PLUGINS="zz_broken,zz_typo,zz_zdupe")
    assert check.returncode == 0, check.stderr[-3000:]
    assert "zz_" not in check.stdout + check.stderr


@pytest.mark.django_db
def test_the_admin_names_broken_plugins_and_the_fix(fake_dists, admin_user) -> None:
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    index = client.get("/admin/dsn_core/").content.decode()
    assert "Broken DSN plugins are left out: zz_badarg, zz_broken, zz_typo, zz_zdupe." in index
    page = client.get("/admin/dsn_core/delivery/overview/")
    rows = {p["name"]: p for p in page.context["broken_plugins"]}
    assert set(rows) == {"zz_broken", "zz_typo", "zz_zdupe", "zz_badarg"}
    html = page.content.decode()
    assert 'id="dsn-broken-plugins"' in html and "DSN[&#x27;BLOCK_PLUGINS&#x27;] = [&#x27;zz_broken&#x27;]" in html
    assert "zz_good" not in html


@pytest.mark.django_db
def test_the_admin_says_nothing_when_every_plugin_loads(admin_user) -> None:
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    assert "Broken DSN plugins" not in client.get("/admin/dsn_core/").content.decode()
    assert 'id="dsn-broken-plugins"' not in client.get("/admin/dsn_core/delivery/overview/").content.decode()
