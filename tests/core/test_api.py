"""The published plugin API: ``dsn_core.api`` is the only core module the official plugins import,
it imports without Django's app registry, and every name it promises resolves."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import dsn_core
from dsn_core import api

ROOT = Path(__file__).resolve().parents[2]


def _core_imports(path: Path) -> list[str]:
    """Every ``dsn_core`` module a file imports (anywhere: module level, functions, TYPE_CHECKING)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "dsn_core":
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names if alias.name.split(".")[0] == "dsn_core")
    return found


def test_official_plugins_import_only_the_published_api() -> None:
    files = sorted((ROOT / "plugins").rglob("*.py"))
    assert len(files) > 20
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in files
        for module in _core_imports(path)
        if module != "dsn_core.api"
    ]
    assert offenders == [], "plugins must import from dsn_core.api only:\n" + "\n".join(offenders)


def test_the_scanner_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from dsn_core.models import Delivery\n    import dsn_core.tokens\n")
    assert _core_imports(source) == ["dsn_core.models", "dsn_core.tokens"]


def test_every_published_name_resolves() -> None:
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert api.hookimpl is dsn_core.hookimpl
    assert api.__version__ == dsn_core.__version__
    assert sorted(api.__all__) == api.__all__ and len(set(api.__all__)) == len(api.__all__)
    assert set(api.__all__) <= set(dir(api))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        api.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_api_needs_no_settings_nor_apps() -> None:
    """A fresh interpreter without DJANGO_SETTINGS_MODULE imports the API and the names a
    messenger module needs at import time; the model-backed names load only on access."""
    code = (
        "import sys\n"
        "from dsn_core.api import Message, Messenger, Option, RateLimit, SendResult, TemplateEngine, "
        "TemplateError, TransientError, PermanentError, ConfigurationError, hookimpl, setting, redact_error, "
        "make_token\n"
        "import dsn_core.api as api\n"
        "assert 'dsn_core.models' not in sys.modules, 'models imported'\n"
        "assert set(api.__all__) >= {'record_receipt', 'find_delivery', 'Delivery', 'addresses'}\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_a_message_names_its_event() -> None:
    from dsn_core.api import Message

    message = Message(address="a", subject="", text="t", delivery_id=3, metadata={"notification": 42, "verb": "paid"})
    assert (message.notification_id, message.verb, message.idempotency_key) == (42, "paid", "dsn-3")
    bare = Message(address="a", subject="", text="t")
    assert (bare.notification_id, bare.verb, bare.idempotency_key) == (None, "", "")
