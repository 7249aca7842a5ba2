"""The docs keep up with the code: every hook is documented for plugin authors, with its full
signature and, for the ``register_*`` hooks, the full signature of ``register``."""

import dataclasses
import inspect
from pathlib import Path

import pytest

from dsn_core import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs"
HOOKS = sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "dsn_spec"))


def test_there_are_hooks() -> None:
    assert len(HOOKS) >= 7


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    assert f"`{hook}(" in (DOCS / "plugin-authors.md").read_text()


def _signature(name: str, params: list[tuple[str, object]]) -> str:
    """``name(a, b=None, c="")`` as the guide writes it."""
    parts = []
    for param, default in params:
        if default is inspect.Parameter.empty:
            parts.append(param)
        else:
            shown = '""' if default == "" else repr(default)
            parts.append(f"{param}={shown}")
    return f"{name}({', '.join(parts)})"


def _row(hook: str) -> str:
    guide = (DOCS / "plugin-authors.md").read_text()
    rows = [line for line in guide.splitlines() if line.startswith(f"| `{hook}(")]
    assert len(rows) == 1, f"one row of the guide's hook table for {hook}, found {len(rows)}"
    return rows[0]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_signature_in_the_guide_matches_the_spec(hook: str) -> None:
    params = [(p.name, p.default) for p in inspect.signature(getattr(hookspecs, hook)).parameters.values()]
    assert _row(hook).startswith(f"| `{_signature(hook, params)}` |")


def _register_params(hook: str) -> list[tuple[str, object]]:
    from dsn_core import plugins
    from dsn_core.verbs import Verb

    if hook == "register_signals":  # register(name, signal, **options) makes a Verb of them
        return [
            (f.name, inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default)
            for f in dataclasses.fields(Verb)
        ]
    entry = {
        "register_messengers": plugins._messenger_entry,
        "register_template_engines": plugins._engine_entry,
        "register_receiver_resolvers": plugins._resolver_entry,
    }[hook]
    return [(p.name, p.default) for p in inspect.signature(entry).parameters.values()]


@pytest.mark.parametrize("hook", [h for h in HOOKS if h.startswith("register_")])
def test_the_register_callable_is_documented_in_full(hook: str) -> None:
    assert f"`{_signature('register', _register_params(hook))}`" in _row(hook)


def test_the_signature_check_would_catch_a_missing_argument() -> None:
    assert _signature("register", [("name", inspect.Parameter.empty), ("description", "")]) == (
        'register(name, description="")'
    )
    assert '`register(name, signal, action_object_arg=None, actor_arg=None, description="")`' not in _row(
        "register_signals"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_docstring(hook: str) -> None:
    assert (getattr(hookspecs, hook).__doc__ or "").strip()


def test_the_plugin_guide_holds_a_whole_distribution() -> None:
    """CI installs these files beside dsn-core and runs their tests (.ci/run); here, a quick look."""
    import tomllib

    from tests import guide

    files = guide.files()
    assert set(files) == {
        "pyproject.toml",
        "dsn_pigeon/__init__.py",
        "dsn_pigeon/messenger.py",
        "dsn_pigeon/plugin.py",
        "tests/settings.py",
        "tests/conftest.py",
        "tests/test_pigeon.py",
    }
    project = tomllib.loads(files["pyproject.toml"])
    assert project["project"]["entry-points"]["dsn"] == {"pigeon": "dsn_pigeon.plugin"}
    for path, body in files.items():
        if path.endswith(".py"):
            compile(body, path, "exec")  # a SyntaxError names the file
