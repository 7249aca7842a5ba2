"""A real site in other processes: a migrated database, uvicorn serving it, and a way to fire
events from yet another process. Used by the SSE and browser tests."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

#: Creates the flow (once) and saves an Article: every user named in USERS gets an item.
FIRE = """
import time
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from dsn_core.models import Backend, MessageTemplate, Subscription, Trigger
from tests.testapp.models import Article
if not Trigger.objects.filter(name="inbox-test").exists():
    trigger = Trigger.objects.create(name="inbox-test", verb="post_save",
                                     action_object_type=ContentType.objects.get_for_model(Article))
    template = MessageTemplate.objects.create(name="inbox-test", subject="{{ instance.title }}", text="saved")
    backend = Backend.objects.create(name="inbox", messenger="inbox", template=template)
    sub = Subscription.objects.create(trigger=trigger)
    sub.backends.add(backend)
    sub.receiver_users.add(*User.objects.filter(username__in=USERS))
    from dsn_core import index
    index.reset()
Article.objects.create(title=TITLE)
print(time.time())
"""


@dataclass
class Site:
    env: dict[str, str]
    logs: Path
    url: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, code: str, **values: Any) -> str:
        """Run ``code`` in a fresh Django process (``values`` become its globals); its stdout."""
        prelude = "import django; django.setup()\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())
        out = subprocess.run(
            [PYTHON, "-c", prelude + code], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout.strip()

    def login(self, username: str) -> str:
        """Create ``username`` (password pw) and a logged-in session; returns the session key."""
        return self.run(
            "from django.contrib.auth.models import User\n"
            "from django.contrib.sessions.backends.db import SessionStore\n"
            "user = User.objects.create_user(NAME, password='pw')\n"
            "s = SessionStore()\n"
            "s['_auth_user_id'] = str(user.pk)\n"
            "s['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend'\n"
            "s['_auth_user_hash'] = user.get_session_auth_hash()\n"
            "s.create()\n"
            "print(s.session_key)\n",
            NAME=username,
        )

    def fire(self, title: str, users: list[str]) -> float:
        """Save an Article in another process; returns the time its items were committed."""
        return float(self.run(FIRE, TITLE=title, USERS=users).splitlines()[-1])

    def serve(self) -> str:
        """Start uvicorn on a socket bound here (port 0, so never a clash); returns its base URL."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        log = open(self.logs / f"uvicorn-{port}.log", "wb")
        proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "tests.dsn_inbox.asgi:application",
                "--fd",
                str(sock.fileno()),
                "--log-level",
                "warning",
                "--lifespan",
                "off",
            ],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
            start_new_session=True,
        )
        sock.close()
        log.close()
        self.processes.append(proc)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/dsn/inbox/api/unread/")
                if conn.getresponse().status == 401:
                    return self.url
            except OSError:
                pass
            assert proc.poll() is None, self.log_text()
            time.sleep(0.1)
        raise AssertionError(f"uvicorn did not answer in 30 s\n{self.log_text()}")

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.logs.glob("*.log"))

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=2):
            return True
    except Exception:
        return False


@contextmanager
def site(tmp_path: Path, engine: str = "sqlite", **env: str) -> Iterator[Site]:
    """A migrated database (file SQLite, or a fresh PostgreSQL database) for other processes."""
    base = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.dsn_inbox.settings",
        PYTHONPATH=str(ROOT),
        DSN_INBOX_CHANNEL=f"dsn_inbox_{uuid.uuid4().hex[:10]}",
        NO_PROXY="127.0.0.1,localhost",
    )
    for name in ("DSN_TEST_DB", "DSN_PG_NAME", "DSN_SQLITE_NAME", "DSN_INBOX_REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        base.pop(name, None)
    base.update(env)
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    pg_name = ""
    if engine == "postgres":
        import psycopg

        pg_name = f"dsn_inbox_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        base.update(DSN_TEST_DB="postgres", DSN_PG_NAME=pg_name)
    else:
        base.update(DSN_SQLITE_NAME=str(tmp_path / "site.sqlite3"))
    s = Site(env=base, logs=logs)
    try:
        out = subprocess.run(
            [PYTHON, "-m", "django", "migrate", "-v0"], env=base, cwd=ROOT, capture_output=True, text=True, timeout=180
        )
        assert out.returncode == 0, out.stderr[-3000:]
        yield s
    finally:
        s.stop()
        if pg_name:
            import psycopg

            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


class EventStream:
    """A raw SSE client over http.client: reads events with a deadline, no sleeps."""

    def __init__(self, base_url: str, session: str, last_event_id: str = "") -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"Cookie": f"sessionid={session}", "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", "/dsn/inbox/stream/", headers=headers)
        self.response = self.conn.getresponse()
        self.buffer: list[str] = []

    def next_event(self, timeout: float = 5.0) -> tuple[str, dict[str, Any], str]:
        """The next named event: (name, data, id). Comments and ``retry:`` lines are skipped."""
        assert self.conn.sock is not None
        self.conn.sock.settimeout(timeout)
        name, data, event_id = "", "", ""
        while True:
            line = self.response.readline().decode()
            if line == "":
                raise EOFError("the stream closed")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line == "" and name:
                return name, json.loads(data), event_id

    def until(self, predicate: Any, timeout: float) -> tuple[str, dict[str, Any], str]:
        """Read events until ``predicate(name, data)`` holds; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching event in time")
            event = self.next_event(timeout=left)
            if predicate(event[0], event[1]):
                return event

    def close(self) -> None:
        self.conn.close()
