"""The docs keep up with the code: every hook is documented for plugin authors."""

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


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_docstring(hook: str) -> None:
    assert (getattr(hookspecs, hook).__doc__ or "").strip()


def test_the_plugin_guide_holds_a_whole_distribution() -> None:
    """CI installs these files beside dsn-core and runs their tests (.ci/run); here, a quick look."""
    import tomllib

    from tests import guide

    files = guide.files()
    assert set(files) == {"pyproject.toml", "dsn_pigeon/__init__.py", "dsn_pigeon/messenger.py",
                          "dsn_pigeon/plugin.py", "tests/settings.py", "tests/conftest.py", "tests/test_pigeon.py"}
    project = tomllib.loads(files["pyproject.toml"])
    assert project["project"]["entry-points"]["dsn"] == {"pigeon": "dsn_pigeon.plugin"}
    for path, body in files.items():
        if path.endswith(".py"):
            compile(body, path, "exec")  # a SyntaxError names the file
