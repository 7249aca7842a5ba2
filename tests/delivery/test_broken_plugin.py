"""A broken third-party plugin never stops delivery: with three broken plugins installed (an import
error, a misspelled hook, a duplicate key), a real db_worker starts and sends everything through
the healthy plugin, and check, dsn_status and dsn_sweep exit 0 (issue 10, item 4)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .harness import ROOT, Provider, fire, site, wait_until

#: Every test here runs a site on a database it chooses (see tests/conftest.py).
pytestmark = pytest.mark.own_database

BROKEN = {
    "zz_broken_plugin": "raise ImportError('missing dependency: acme-sdk')\n",
    "zz_typo_plugin": "from dsn_core.api import hookimpl\n\n\n@hookimpl\ndef register_messenger(register):\n    pass\n",
    "zz_dupe_plugin": (
        "from dsn_core.api import Messenger, hookimpl\n\n\nclass Clash(Messenger):\n    key = 'console'\n"
        "    label = 'Not the real one'\n\n\n@hookimpl\ndef register_messengers(register):\n    register(Clash)\n"
    ),
}


def _install_broken(root: Path) -> Path:
    """What ``pip install dsn-broken`` would leave on sys.path: its modules and its entry points."""
    info = root / "dsn_broken-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dsn-broken\nVersion: 1.0\n")
    names = {"zz_broken": "zz_broken_plugin", "zz_typo": "zz_typo_plugin", "zz_zdupe": "zz_dupe_plugin"}
    (info / "entry_points.txt").write_text("[dsn]\n" + "".join(f"{k} = {v}\n" for k, v in names.items()))
    for module, source in BROKEN.items():
        (root / f"{module}.py").write_text(source)
    return root


@pytest.mark.slow
def test_a_worker_sends_everything_with_broken_plugins_installed(tmp_path: Path) -> None:
    dists = _install_broken(tmp_path / "site-packages")
    n = 5
    with Provider() as provider, site(tmp_path, PYTHONPATH=os.pathsep.join([str(dists), str(ROOT)])) as s:
        check = s.run("check")  # raises if it exits non-zero
        assert "System check identified" in check or check == ""
        fire(s, n, provider.url)
        s.start_worker()
        wait_until(lambda: s.statuses() == {"sent": n}, 90, f"{n} deliveries sent", step=0.25)
        assert len(provider.accepted()) == n
        status = s.run("dsn_status")
        s.run("dsn_sweep", "--grace", "0")
        listing = s.run("dsn_plugins")
        logs = s.logs_text(tail=None)  # the import warning is the worker's first line
    assert "zz_broken  (dsn-broken 1.0)  BROKEN" in listing and "zz_zdupe  (dsn-broken 1.0)  BROKEN" in listing
    assert "'console' is already registered" in listing
    assert "DSN plugin zz_broken (dsn-broken) failed to import and is left out" in logs
    assert status
