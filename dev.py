#!/usr/bin/env python3
"""Developer entry point: needs only Python 3.11+ and pip.

    python dev.py demo     # the example site with a task worker, on SQLite (demo 8123: another port)
    python dev.py test     # the whole test suite (SQLite, then PostgreSQL if reachable)
    python dev.py bench    # the benchmark suite (see docs/benchmarks.md)

It installs ``uv`` into ``.venv-tools`` with pip, then ``uv sync``s every workspace member
(dsn-core and all plugins) into ``.venv``. Extra arguments go to pytest / the benchmark.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".venv-tools"
VENV = Path(os.environ.get("DSN_VENV", ROOT / ".venv"))
BIN = "Scripts" if os.name == "nt" else "bin"


def say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None, check: bool = True) -> int:
    return subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=check).returncode


def uv() -> Path:
    found = shutil.which("uv")
    if found:
        return Path(found)
    exe = TOOLS / BIN / "uv"
    if not exe.exists():
        say("installing uv into .venv-tools (pip)")
        run(sys.executable, "-m", "venv", TOOLS)
        run(TOOLS / BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv")
    return exe


def sync(groups: list[str], python: str | None = None, inexact: bool = False) -> Path:
    """Install every workspace member (and the given dependency groups) into VENV.

    ``inexact``: keep packages VENV already has beyond those (uv removes them otherwise).
    """
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(VENV))
    args: list[str | Path] = [
        uv(),
        "sync",
        "--all-packages",
        "--compile-bytecode",
        "--quiet",
        "--python",
        python or sys.executable,
    ]
    for group in groups:
        args += ["--group", group]
    if inexact:
        args.append("--inexact")
    say(f"installing dsn-core and every plugin into {VENV.name} ({' '.join(groups) or 'runtime only'})")
    run(*args, env=env)
    return VENV / BIN / "python"


def postgres_reachable(host: str = "127.0.0.1", port: int = 5432) -> str:
    """'' if PostgreSQL answers, else the reason it will be skipped."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return ""
    except OSError as exc:
        return f"PostgreSQL not reachable on {host}:{port} ({exc.strerror or exc})"


def cmd_test(argv: list[str]) -> int:
    python = sync(["test"])
    say("tests on SQLite")
    code = run(python, "-m", "pytest", *argv, check=False)
    reason = postgres_reachable()
    if reason:
        say(f"skipping the PostgreSQL run: {reason}")
    elif os.environ.get("DSN_SKIP_POSTGRES"):
        say("skipping the PostgreSQL run: DSN_SKIP_POSTGRES is set")
    else:
        say("tests on PostgreSQL (127.0.0.1:5432)")
        # Tests that run a site on a database of their own choosing already ran above: skipped here.
        env = dict(os.environ, DSN_TEST_DB="postgres", DSN_TEST_SKIP_OWN_DATABASE="1")
        code = run(python, "-m", "pytest", *argv, env=env, check=False) or code
    return code


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `kill <pid>` stops the demo like Ctrl-C: worker and web server too


def demo_commands(python: Path, port: str) -> dict[str, list[str]]:
    """The demo's two long-running processes: the task worker and the ASGI web server.

    uvicorn (a dependency of dsn-inbox) rather than runserver, so the inbox badge's live stream
    stays open; the demo's ASGI application serves static files itself while DEBUG is on.
    """
    example = ROOT / "example"
    return {
        "worker": [str(python), str(example / "manage.py"), "db_worker", "--interval", "0.2", "--no-reload"],
        "web": [
            str(python),
            "-m",
            "uvicorn",
            "demo_site.asgi:application",
            "--app-dir",
            str(example),
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--lifespan",
            "off",
            "--no-access-log",
            # open live streams never end by themselves: give them 2 s, then close them
            "--timeout-graceful-shutdown",
            "2",
        ],
    }


def wait_for_port(port: int, procs: list[subprocess.Popen[bytes]], timeout: float = 60) -> bool:
    """Whether 127.0.0.1:``port`` accepts connections before ``timeout`` (and the processes live)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def cmd_demo(argv: list[str]) -> int:
    no_sync = "--no-sync" in argv  # use .venv as it is (offline; the tests run the demo so)
    argv = [a for a in argv if a != "--no-sync"]
    # --inexact: keep what `dev.py test` installed (pytest, ruff, Playwright), so the README's two
    # commands run in either order.
    python = VENV / BIN / "python" if no_sync else sync([], inexact=True)
    manage = [python, ROOT / "example" / "manage.py"]
    port = argv[0] if argv else "8000"
    env = dict(os.environ, DSN_DEMO_PORT=port)  # the settings build BASE_URL from it
    say(f"migrating the example site ({os.environ.get('DSN_DEMO_DB') or 'example/db.sqlite3'})")
    run(*manage, "migrate", "--noinput", "-v0", env=env)
    run(*manage, "demo_setup", env=env)
    say("starting the task worker and the web server (uvicorn; Ctrl-C or SIGTERM stops both)")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for command in demo_commands(python, port).values():
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env))
        if not wait_for_port(int(port), procs):
            say(f"the web server did not start on 127.0.0.1:{port} (is the port in use?)")
            return 1
        run(*manage, "demo_setup", "--sample-order", check=False, env=env)
        print(
            f"\n  Admin:  http://127.0.0.1:{port}/admin/   login: admin / admin\n"
            f"  A customer's preferences: http://127.0.0.1:{port}/dsn/preferences/   login: customer / customer\n"
            "  Create an Order (or mark one paid) and watch the worker print the messages here;\n"
            "  the admin's Notifications badge counts up in every open tab.\n",
            flush=True,
        )
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for p in procs:
            if p.poll() is None:
                # SIGTERM, not SIGINT: a process started in the background ignores SIGINT.
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return 0


def cmd_bench(argv: list[str]) -> int:
    python = sync(["test", "bench"])
    return run(python, "-m", "benchmarks", *argv, check=False)


COMMANDS = {"test": cmd_test, "demo": cmd_demo, "bench": cmd_bench}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    if sys.version_info < (3, 11):  # noqa: UP036  (dev.py may be run by an older python)
        print("DSN needs Python 3.11 or newer.", file=sys.stderr)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
