"""The plugin-author guide's example distribution, taken out of the guide itself.

Every fenced code block in ``docs/plugin-authors.md`` whose first line is a comment naming a
file (``# dsn_pigeon/messenger.py``) is that file of the example plugin. CI writes them out,
installs the result next to dsn-core in a fresh virtualenv and runs its tests, so the guide
stays something an outsider can follow::

    python -m tests.guide docs/plugin-authors.md /tmp/dsn-pigeon
    python -m tests.guide docs/plugin-authors.md /tmp/dsn-jinja dsn-jinja   # the template engine
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugin-authors.md"
_BLOCK = re.compile(
    r"^```[a-z]*\n# (?:(?P<dist>[\w-]+): )?(?P<path>[\w./-]+\.(?:py|toml))\n(?P<body>.*?)^```$", re.M | re.S
)


def files(guide: Path = GUIDE, distribution: str | None = None) -> dict[str, str]:
    """``{relative path: content}`` for every file block of the guide, in order.

    Blocks headed ``# path`` make the main example; blocks headed ``# dist-name: path`` belong to
    the further example ``distribution`` (the guide's template engine, ``dsn-jinja``).
    """
    found: dict[str, str] = {}
    for match in _BLOCK.finditer(guide.read_text()):
        if match["dist"] != distribution:
            continue
        path = match["path"]
        if path in found:
            raise ValueError(f"{guide}: {path} appears twice")
        found[path] = match["body"]
    return found


def write(dest: Path, guide: Path = GUIDE, distribution: str | None = None) -> list[Path]:
    """Write the example distribution under ``dest``; return the files written."""
    written = []
    for rel, body in files(guide, distribution).items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
        written.append(target)
    return written


if __name__ == "__main__":  # python -m tests.guide GUIDE DEST [DISTRIBUTION]
    for path in write(Path(sys.argv[2]), Path(sys.argv[1]), sys.argv[3] if len(sys.argv) > 3 else None):
        print(path)
