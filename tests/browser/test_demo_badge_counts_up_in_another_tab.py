"""`python dev.py demo` as a person runs it: the admin's Notifications badge counts up in one tab
when an Order is created in another, with no reload; SIGTERM then stops dev.py, its task worker
and its web server (uvicorn), leaving no process behind.

The demo runs for real (dev.py, migrate, demo_setup, db_worker, uvicorn, the example site) on a
database file of its own; only the package sync is skipped (``--no-sync``: this virtualenv is used).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
UNREAD = "document.querySelector('dsn-inbox-badge') && document.querySelector('dsn-inbox-badge').dataset.unread"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_text(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"dev.py demo exited ({proc.returncode}):\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"no {text!r} from dev.py demo in {timeout} s:\n{log.read_text()[-4000:]}"
        time.sleep(0.1)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    """``python dev.py demo PORT --no-sync`` in its own session; yields (process, base URL, log)."""
    port = free_port()
    log = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(
        DSN_VENV=sys.prefix,
        DSN_DEMO_DB=str(tmp_path / "demo.sqlite3"),
        PYTHONUNBUFFERED="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "dev.py"), "demo", str(port), "--no-sync"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_text(log, "login: admin / admin", proc, timeout=180)
        yield proc, f"http://127.0.0.1:{port}", log
    finally:
        if group_alive(proc.pid):  # the test failed before its own SIGTERM: leave nothing running
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_an_order_created_in_one_tab_counts_up_the_badge_in_another(page: Any, demo: Any) -> None:
    proc, url, log = demo
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin")
    page.click("input[type=submit]")
    page.wait_for_url(f"{url}/admin/")
    assert page.evaluate("getComputedStyle(document.body).fontFamily") != "", "the admin's CSS did not load"
    assert page.locator("link[href$='admin/css/base.css']").count() == 1

    watching = page.context.new_page()  # the other tab: same login, left open on the admin's index
    watching.goto(f"{url}/admin/")
    watching.evaluate("window.dsnNotReloaded = true")
    # dev.py created a sample order at start: once the worker has sent it, the live stream says 1.
    watching.wait_for_function(f"{UNREAD} === '1'", timeout=30_000)

    page.goto(f"{url}/admin/shop/order/add/")
    page.fill("#id_item", "Teapot from the other tab")
    page.fill("#id_total", "24.50")
    page.click("input[name=_save]")
    saved = time.monotonic()
    page.wait_for_url(f"{url}/admin/shop/order/")
    watching.wait_for_function(f"{UNREAD} === '2'", timeout=15_000)
    latency = time.monotonic() - saved
    assert watching.evaluate("window.dsnNotReloaded === true"), "the watching tab was reloaded"
    count = watching.locator("dsn-inbox-badge .dsn-inbox-count")
    assert count.is_visible() and count.inner_text() == "2"
    assert watching.get_attribute("dsn-inbox-badge a", "aria-label") == "Notifications, 2 unread"
    print(f"order saved -> badge counted up in the other tab: {latency:.2f} s")
    assert latency < 10, f"the badge took {latency:.1f} s"

    # the stream came from uvicorn (an ASGI server), not a polling fallback
    status = watching.evaluate(
        "fetch('/dsn/inbox/stream/', {headers: {Accept: 'text/event-stream'}})"
        ".then(r => { const s = r.status; r.body.cancel(); return s; })"
    )
    assert status == 200
    # and the worker printed the console message for it in dev.py's terminal
    wait_for_text(log, "ordered Teapot from the other tab", proc, timeout=15)

    os.kill(proc.pid, signal.SIGTERM)  # as `kill <pid>` would: dev.py stops the worker and the server
    assert proc.wait(timeout=30) == 0
    deadline = time.monotonic() + 15
    while group_alive(proc.pid):
        assert time.monotonic() < deadline, subprocess.run(
            ["ps", "-o", "pid,cmd", "-g", str(proc.pid)], capture_output=True, text=True
        ).stdout
        time.sleep(0.1)
    assert "Traceback" not in log.read_text(errors="replace")
