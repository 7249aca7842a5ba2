"""``python -m dsn_core.startplugin NAME`` writes a distribution that passes its own tests unchanged.

CI installs one into a fresh virtualenv from its wheel and runs its tests (.ci/run); here the
generated tests run in a subprocess with the distribution made importable and its entry point
declared the way an install would."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dsn_core.startplugin import main, write

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, cwd: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSN_", "DJANGO_SETTINGS"))}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.own_database
def test_the_starter_writes_a_distribution_that_passes_its_tests(tmp_path: Path) -> None:
    made = _run("-m", "dsn_core.startplugin", "rocket_mail", cwd=tmp_path, pythonpath=[ROOT])
    assert made.returncode == 0, made.stderr
    dist = tmp_path / "dsn-rocket-mail"
    assert {p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file()} == {
        "pyproject.toml",
        "README.md",
        "dsn_rocket_mail/__init__.py",
        "dsn_rocket_mail/py.typed",
        "dsn_rocket_mail/messenger.py",
        "dsn_rocket_mail/plugin.py",
        "tests/__init__.py",
        "tests/settings.py",
        "tests/test_messenger.py",
    }
    project = tomllib.loads((dist / "pyproject.toml").read_text())["project"]
    assert project["name"] == "dsn-rocket-mail"
    assert project["entry-points"]["dsn"] == {"rocket_mail": "dsn_rocket_mail.plugin"}
    assert project["dependencies"] == ["dsn-core>=0.3,<0.4"]
    # what installing it would add: the entry point's metadata
    site = tmp_path / "site"
    info = site / "dsn_rocket_mail-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dsn-rocket-mail\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[dsn]\nrocket_mail = dsn_rocket_mail.plugin\n")
    tests = _run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=dist, pythonpath=[site, dist, ROOT])
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    # 6 MessengerContract cases + 10 HttpMessengerContract cases + 3 of its own, none skipped
    assert "19 passed" in tests.stdout, tests.stdout[-2000:]


def test_the_generated_code_is_ruff_clean(tmp_path: Path) -> None:
    write("acme", tmp_path / "dsn-acme")
    (tmp_path / "dsn-acme" / "ruff.toml").write_text(
        "line-length = 120\n[lint]\nselect = ['E', 'F', 'W', 'I', 'B', "
        "'UP']\n[lint.isort]\nknown-first-party = ['dsn_acme']\n"
        "known-third-party = ['dsn_core', 'django']\n"
    )
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=tmp_path / "dsn-acme",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize("name", ["Acme!", "1acme", "a", "class", "with space"])
def test_bad_names_are_refused(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--dest", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "is not a plugin name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_existing_directory_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dsn-acme").mkdir()
    (tmp_path / "dsn-acme" / "mine.txt").write_text("keep me")
    with pytest.raises(SystemExit):
        main(["acme", "--dest", str(tmp_path / "dsn-acme")])
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "dsn-acme" / "mine.txt").read_text() == "keep me"
