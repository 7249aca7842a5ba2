"""Every distribution: one version (the core's, through hatch), project URLs, and ``py.typed``."""

from __future__ import annotations

import tomllib
from importlib.metadata import metadata, version
from pathlib import Path

import pytest

import dsn_core

ROOT = Path(__file__).resolve().parents[2]
PYPROJECTS = [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/dsn_*/pyproject.toml"))]


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: p.parent.name or "dsn_core")
def test_one_version_urls_and_py_typed(pyproject: Path) -> None:
    config = tomllib.loads(pyproject.read_text())
    project = config["project"]
    assert "version" not in project and "version" in project["dynamic"], "the version is written in one place"
    source = (pyproject.parent / config["tool"]["hatch"]["version"]["path"]).resolve()
    assert source == (ROOT / "dsn_core" / "__init__.py").resolve()
    urls = project["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Changelog", "Issues"}
    assert (ROOT / urls["Documentation"].split("/blob/main/")[1]).is_file()
    for package in config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
        assert (pyproject.parent / package / "py.typed").is_file(), f"{package} has no py.typed"
    assert version(project["name"]) == dsn_core.__version__
    assert metadata(project["name"]).get_all("Project-URL"), "installed metadata carries the URLs"


def test_the_plugins_report_their_installed_version() -> None:
    import dsn_email
    import dsn_sms
    import dsn_telegram
    import dsn_twitter

    assert {m.__version__ for m in (dsn_email, dsn_sms, dsn_telegram, dsn_twitter)} == {dsn_core.__version__}
