"""``python -m dsn_core.startplugin NAME [--dest DIR]``: write a new messenger plugin distribution.

The distribution it writes (``dsn-NAME/``) is complete and installable as it is: a
``pyproject.toml`` with the ``dsn`` entry point, a messenger speaking JSON over HTTP with every
provider error mapped, the plugin module, a README, ``py.typed``, and tests that run DSN's
messenger contracts against a fake provider on 127.0.0.1. Install it and run its tests::

    python -m dsn_core.startplugin acme
    cd dsn-acme && pip install -e ".[test]" && pytest

Then change ``messenger.py`` to speak your provider's real API (and the tests' fake answers
with it). Nothing here runs in a site: this module only writes files.
"""

from __future__ import annotations

import argparse
import keyword
import re
from pathlib import Path
from string import Template

from .templates import FILES

NAME = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


def context(name: str) -> dict[str, str]:
    """The values the templates are filled with, for a plugin called ``name`` (``acme``)."""
    from dsn_core import __version__

    major, minor = __version__.split(".")[:2]
    words = name.split("_")
    return {
        "key": name,
        "package": f"dsn_{name}",
        "dist": f"dsn-{name.replace('_', '-')}",
        "Class": "".join(w.capitalize() for w in words),
        "Label": " ".join(w.capitalize() for w in words),
        "SECTION": name.upper(),
        "core_range": f">={major}.{minor},<{major}.{int(minor) + 1}",
    }


def write(name: str, dest: Path) -> list[Path]:
    """Write the distribution for plugin ``name`` into ``dest`` (which must not exist yet)."""
    if not NAME.fullmatch(name) or keyword.iskeyword(name):
        raise ValueError(f"{name!r} is not a plugin name: use 2-31 lowercase letters, digits or _, a letter first")
    if dest.exists():
        raise FileExistsError(f"{dest} already exists; choose another --dest or remove it")
    values = context(name)
    written: list[Path] = []
    for path_template, body in FILES.items():
        target = dest / Template(path_template).substitute(values)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(body).substitute(values))
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dsn_core.startplugin", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the messenger's key, e.g. acme (the distribution is dsn-acme)")
    parser.add_argument("--dest", type=Path, help="where to write it (default: ./dsn-NAME)")
    args = parser.parse_args(argv)
    name = args.name.strip().lower().replace("-", "_")
    dest = args.dest or Path.cwd() / f"dsn-{name.replace('_', '-')}"
    try:
        written = write(name, dest)
    except (ValueError, FileExistsError) as exc:
        parser.error(str(exc))
    for path in written:
        print(path)
    print(f"\nNext: cd {dest} && pip install -e '.[test]' && pytest")
    return 0
