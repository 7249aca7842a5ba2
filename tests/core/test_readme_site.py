"""README's five-minute setup works pasted into a fresh ``startproject`` site (tests/readme_site.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests import readme_site


def test_the_section_parses_into_files_commands_and_admin_steps() -> None:
    steps = readme_site.section()
    assert set(steps.files) == {"settings.py", "urls.py"}
    assert "from django.urls import include" in steps.files["urls.py"]  # startproject imports only path
    assert steps.commands[0] == "python manage.py migrate" and any("db_worker" in c for c in steps.commands)
    assert "dsn-core" in steps.packages and steps.messenger_label == "Console (print)"


@pytest.mark.slow
@pytest.mark.own_database
def test_a_message_flows_in_a_site_built_from_the_readme(tmp_path: Path) -> None:
    seen = readme_site.build(tmp_path / "site", sys.executable)
    assert seen["message"] == "Someone saved readme-check"
    assert seen["statuses"] == "['sent']"
    assert "sent 1" in seen["python manage.py dsn_status --max-wait 300"]


def test_a_readme_without_the_include_import_fails_as_pasted(tmp_path: Path) -> None:
    """The script catches the original mistake: ``include`` used, never imported."""
    readme = tmp_path / "README.md"
    readme.write_text(
        readme_site.README.read_text().replace(
            "from django.urls import include  # startproject's urls.py imports only path\n", ""
        )
    )
    with pytest.raises(readme_site.SetupFailed, match="NameError: name 'include' is not defined"):
        readme_site.build(tmp_path / "site", sys.executable, readme)
