"""The official channels keep the file layout ``docs/channels/layout.md`` describes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = (ROOT / "docs" / "channels" / "layout.md").read_text()
CHANNELS = ("dsn_email", "dsn_telegram", "dsn_sms", "dsn_twitter")


def _table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _files(cell: str) -> set[str]:
    return set(re.findall(r"`(\w+\.py)`", cell))


ROWS = _table_rows(LAYOUT)
CONVENTION = {cells[0].strip("`") for cells in ROWS if re.fullmatch(r"`\w+\.py`", cells[0])}
FURTHER = {cells[0].strip("`"): _files(cells[1]) for cells in ROWS if cells[0].strip("`") in CHANNELS}


def test_the_page_names_the_six_conventional_files() -> None:
    assert CONVENTION == {"config.py", "errors.py", "messenger.py", "plugin.py", "webhooks.py", "transport.py"}
    assert set(FURTHER) == set(CHANNELS)


@pytest.mark.parametrize("channel", CHANNELS)
def test_each_module_of_a_channel_is_conventional_or_listed(channel: str) -> None:
    package = ROOT / "plugins" / channel / channel
    modules = {p.name for p in package.glob("*.py")} - {"__init__.py"}
    assert {"messenger.py", "plugin.py"} <= modules
    unlisted = modules - CONVENTION - FURTHER[channel]
    assert not unlisted, f"{channel}: add {sorted(unlisted)} to docs/channels/layout.md or rename them"
    missing = FURTHER[channel] - modules
    assert not missing, f"{channel}: docs/channels/layout.md lists {sorted(missing)}, which do not exist"
    assert not FURTHER[channel] & CONVENTION
