"""Real processes for the delivery tests: a database, worker processes, the sweeper, and a
fake provider that logs every delivery it receives.

Workers run ``manage.py db_worker`` (django-tasks-db) or ``manage.py rqworker`` (django-tasks-rq)
with ``tests.delivery.settings``, each in its own process group so ``kill -9`` takes the whole
worker (an RQ work-horse included) at once.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes import FakeServer, Request

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> None:
    """Poll ``condition`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


# -- the fake provider ---------------------------------------------------------------------------


@dataclass
class Hit:
    """One request the provider received: when, for which delivery, and what it answered."""

    at: float
    delivery_id: int
    address: str
    status: int
    retry_after: float | None = None
    pid: str = ""
    #: A repeated request whose Idempotency-Key was already accepted: answered, not delivered again.
    replay: bool = False


Policy = Callable[[int, int], tuple[int, dict[str, str]]]


def accept_all(delivery_id: int, attempt: int) -> tuple[int, dict[str, str]]:
    return 200, {}


@dataclass
class Provider:
    """``POST /deliver``: answers by ``policy(delivery_id, attempt_number)`` and logs each hit.

    Like providers that take an ``Idempotency-Key``, a request whose key was already accepted
    gets the first answer again and delivers nothing twice (the hit is logged as a replay).
    """

    policy: Policy = accept_all
    hits: list[Hit] = field(default_factory=list)
    server: FakeServer = field(default_factory=FakeServer)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: dict[str, str] = field(default_factory=dict)  # accepted Idempotency-Key -> message id
    asking: dict[int, int] = field(default_factory=dict)  # requests of a delivery still being answered

    def __post_init__(self) -> None:
        self.server.route("POST", r"/deliver", self._deliver)

    def _deliver(self, req: Request) -> tuple[int, dict[str, str], Any]:
        at = time.time()
        body = req.json or {}
        delivery_id = int(body.get("delivery_id") or 0)
        address = str(body.get("address", ""))
        pid, key = req.headers.get("X-Sender-Pid", ""), req.headers.get("Idempotency-Key", "")
        with self.lock:
            if key and key in self.answered:
                self.hits.append(Hit(at, delivery_id, address, 200, None, pid, replay=True))
                return 200, {}, {"id": self.answered[key]}
            attempt = 1 + sum(1 for h in self.hits if h.delivery_id == delivery_id) + self.asking.get(delivery_id, 0)
            self.asking[delivery_id] = self.asking.get(delivery_id, 0) + 1
        # Outside the lock: a policy that hangs (a hung provider) must not block other requests.
        status, headers = self.policy(delivery_id, attempt)
        retry_after = float(headers["Retry-After"]) if "Retry-After" in headers else None
        with self.lock:
            self.asking[delivery_id] -= 1
            self.hits.append(Hit(at, delivery_id, address, status, retry_after, pid))
            if status < 300 and key:
                self.answered[key] = f"fake-{delivery_id}-{attempt}"
        if status >= 300:
            return status, headers, {"error": f"fake provider says {status}"}
        return status, headers, {"id": f"fake-{delivery_id}-{attempt}"}

    @property
    def url(self) -> str:
        return self.server.url

    def accepted(self) -> Counter[int]:
        """How many requests for each delivery id were answered 2xx (replays included)."""
        with self.lock:
            return Counter(h.delivery_id for h in self.hits if h.status < 300)

    def delivered(self) -> Counter[int]:
        """How many times each delivery id was actually delivered (replays excluded)."""
        with self.lock:
            return Counter(h.delivery_id for h in self.hits if h.status < 300 and not h.replay)

    def __enter__(self) -> Provider:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


# -- the database and the processes -------------------------------------------------------------

SETUP = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from dsn_core.models import Backend, MessageTemplate, Subscription, Trigger
from tests.testapp.models import Article
n, url = {n}, {url!r}
User = get_user_model()
User.objects.bulk_create([User(username=f"u{{i:05d}}") for i in range(n)])
trigger = Trigger.objects.create(name="delivery", verb="post_save",
                                 action_object_type=ContentType.objects.get_for_model(Article))
template = MessageTemplate.objects.create(name="m", text="{{{{ instance }}}} for {{{{ address }}}}")
backend = Backend.objects.create(name="http", messenger="http", template=template, options={{"url": url}})
sub = Subscription.objects.create(trigger=trigger)
sub.backends.add(backend)
sub.receiver_users.add(*User.objects.values_list("pk", flat=True))
Article.objects.create(title="hello")  # fires: one notification, its fan-out goes to the queue
print("fired")
"""


@dataclass
class Site:
    """One deployment under test: a database, a queue, and the processes working on them."""

    env: dict[str, str]
    engine: str  # "sqlite" or "postgres"
    sqlite_path: Path | None = None
    pg_name: str = ""
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    logs: Path | None = None

    def run(self, *args: str, timeout: float = 120) -> str:
        """Run ``python -m django <args>`` to completion; return its stdout."""
        out = subprocess.run(
            [PYTHON, "-m", "django", *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        if out.returncode:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def script(self, code: str, timeout: float = 120) -> str:
        out = subprocess.run(
            [PYTHON, "-c", code], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        if out.returncode:
            raise AssertionError(f"script failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``python -m django <args>`` in its own process group."""
        assert self.logs is not None
        log = open(self.logs / f"{args[0]}-{len(self.processes)}.log", "w")
        proc = subprocess.Popen(
            [PYTHON, "-m", "django", *args],
            env={**self.env, **(env or {})},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        log.close()
        self.processes.append(proc)
        return proc

    def start_worker(self, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        if self.env.get("DSN_TEST_TASKS") == "rq":
            return self.start(
                "rqworker", "--job-class", "django_tasks_rq.Job", "--with-scheduler", self.env["DSN_RQ_QUEUE"], env=env
            )
        return self.start("db_worker", "--interval", "0.05", "--no-startup-delay", "--queue-name", "default", env=env)

    @staticmethod
    def kill9(proc: subprocess.Popen[str]) -> None:
        """``kill -9`` the worker's whole process group (no clean-up runs)."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Read the site's database directly (the test process has its own test database)."""
        if self.engine == "sqlite":
            assert self.sqlite_path is not None
            with sqlite3.connect(self.sqlite_path, timeout=30) as conn:
                return list(conn.execute(sql))
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=self.pg_name, autocommit=True) as conn:
            return list(conn.execute(sql).fetchall())

    def statuses(self) -> dict[str, int]:
        return dict(self.query("SELECT status, COUNT(*) FROM dsn_core_delivery GROUP BY status"))

    def logs_text(self, tail: int | None = 3000) -> str:
        """The workers' logs, each cut to its last ``tail`` characters (``None``: whole)."""
        assert self.logs is not None
        start = -tail if tail else 0
        return "\n".join(f"== {p.name}\n{p.read_text()[start:]}" for p in sorted(self.logs.glob("*.log")))


def _base_env() -> dict[str, str]:
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.delivery.settings",
        PYTHONPATH=str(ROOT),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    for name in (
        "DSN_TEST_DB",
        "DSN_PG_NAME",
        "DSN_SQLITE_NAME",
        "DSN_TEST_TASKS",
        "DSN_HTTP_RATE",
        "DSN_HTTP_BATCH",
        "DSN_HTTP_UNINSTALLED",
        "DSN_HTTP_DEDUP",
        "DSN_SQLITE_OPTIONS",
        "DSN_SEND_FROM_FANOUT",
    ):
        env.pop(name, None)
    return env


@contextmanager
def site(tmp_path: Path, *, engine: str = "sqlite", tasks: str = "db", **extra_env: str) -> Iterator[Site]:
    """A migrated database (file SQLite or a fresh PostgreSQL database) and a queue."""
    env = _base_env()
    env.update(extra_env)
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    pg_name = ""
    if tasks == "rq":
        env.update(DSN_TEST_TASKS="rq", DSN_RQ_QUEUE=f"dsn-delivery-{uuid.uuid4().hex[:8]}")
    if engine == "postgres":
        import psycopg

        pg_name = f"dsn_delivery_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        env.update(DSN_TEST_DB="postgres", DSN_PG_NAME=pg_name)
        s = Site(env=env, engine="postgres", pg_name=pg_name, logs=logs)
    else:
        path = tmp_path / "site.sqlite3"
        env.update(DSN_SQLITE_NAME=str(path))
        s = Site(env=env, engine="sqlite", sqlite_path=path, logs=logs)
    try:
        s.run("migrate", "-v0")
        yield s
    finally:
        s.stop_all()
        if engine == "postgres":
            import psycopg

            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        if tasks == "rq":
            _drop_rq_queue(env["DSN_RQ_QUEUE"])


def _drop_rq_queue(name: str) -> None:
    """Delete the keys of this run's RQ queue (and only them)."""
    try:
        import redis

        conn = redis.Redis(host="127.0.0.1", port=6379)
        keys = list(conn.scan_iter(f"rq:*{name}*"))
        if keys:
            conn.delete(*keys)
    except Exception:  # clean-up is best effort; Redis may be gone
        pass


def fire(s: Site, n: int, url: str) -> None:
    """Create ``n`` users, a flow to the ``http`` messenger, and fire it once."""
    assert "fired" in s.script(SETUP.format(n=n, url=url))


@dataclass
class Tally:
    """What the provider received, against what the database says should have been sent."""

    expected: int
    received: int
    #: Requests for a delivery the provider had already accepted (the at-least-once window).
    duplicates: int
    #: Deliveries the provider delivered more than once (0 when it honours the Idempotency-Key).
    delivered_twice: int
    lost: int
    seconds: float

    def line(self, label: str) -> str:
        return (
            f"{label}: {self.expected} deliveries, {self.received} distinct received, "
            f"{self.duplicates} repeated requests, {self.delivered_twice} delivered twice, "
            f"{self.lost} lost, {self.seconds:.1f}s"
        )


def tally(s: Site, provider: Provider, started: float) -> Tally:
    ids = {row[0] for row in s.query("SELECT id FROM dsn_core_delivery")}
    accepted, delivered = provider.accepted(), provider.delivered()
    return Tally(
        expected=len(ids),
        received=len(set(accepted) & ids),
        duplicates=sum(c - 1 for c in accepted.values() if c > 1),
        delivered_twice=sum(c - 1 for c in delivered.values() if c > 1),
        lost=len(ids - set(accepted)),
        seconds=time.time() - started,
    )
