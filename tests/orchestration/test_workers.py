"""Orchestration with real processes: a digest survives kill -9 and is sent once per window and
recipient; a throttle is counted across two worker processes. SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.delivery.harness import PYTHON, ROOT, Provider, Site, site, wait_until

#: Every test here runs a site on a database it chooses (see tests/conftest.py).
pytestmark = pytest.mark.own_database

SETUP = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from dsn_core.models import Backend, MessageTemplate, Subscription, SubscriptionPolicy, Trigger
from tests.testapp.models import Article
n, url, events = {n}, {url!r}, {events}
User = get_user_model()
User.objects.bulk_create([User(username=f"u{{i:05d}}") for i in range(n)])
trigger = Trigger.objects.create(name="orders", verb="post_save",
                                 action_object_type=ContentType.objects.get_for_model(Article))
template = MessageTemplate.objects.create(name="m", text="{{{{ count }}}} updates")
backend = Backend.objects.create(name="http", messenger="http", template=template, options={{"url": url}})
sub = Subscription.objects.create(trigger=trigger)
sub.backends.add(backend)
sub.receiver_users.add(*User.objects.values_list("pk", flat=True))
SubscriptionPolicy.objects.create(subscription=sub, {policy})
for i in range(events):
    Article.objects.create(title=f"order {{i}}")
print("fired")
"""

N = 300


def _execute(s: Site, sql: str) -> None:
    """Change the site's database directly (``Site.query`` reads rows)."""
    if s.engine == "sqlite":
        import sqlite3

        with sqlite3.connect(s.sqlite_path, timeout=30) as conn:
            conn.execute(sql)
        return
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=s.pg_name, autocommit=True) as conn:
        conn.execute(sql)


EVENTS = 3
BATCH = 10


def _digest_survives_kill9(s: Site, provider: Provider) -> None:
    out = s.script(SETUP.format(n=N, url=provider.url, events=EVENTS, policy='digest="window", digest_minutes=60'))
    assert "fired" in out
    worker = s.start_worker()
    wait_until(
        lambda: s.query("SELECT COUNT(*) FROM dsn_core_digestitem") == [(N * EVENTS,)],
        120,
        "every event in its recipient's open window",
    )
    s.kill9(worker)  # the windows wait in the database, with no worker alive
    assert provider.accepted() == {} and s.statuses() == {}
    # The hour passes (the windows' due time is moved into the past; no clock is touched).
    _execute(s, "UPDATE dsn_core_digest SET due_at = '2000-01-01 00:00:00'")
    worker = s.start_worker()
    s.start("dsn_sweep", "--grace", "0", "--loop", "1")  # closes due windows, enqueues their sending
    wait_until(lambda: len(provider.accepted()) >= N // 3, 120, "a third of the digests sent")
    s.kill9(worker)
    at_kill = len(provider.accepted())
    s.start_worker()

    def done() -> bool:
        return s.statuses() == {"sent": N} and len(provider.accepted()) >= N

    try:
        wait_until(done, 150, f"all {N} digests sent", step=0.25)
    except AssertionError:
        raise AssertionError(f"{s.statuses()} {len(provider.accepted())}\n{s.logs_text()}") from None
    print(f"digest kill -9: killed after {at_kill} of {N} digests received")
    # One window per recipient, closed once, holding all three events, and one delivery each.
    assert s.query(
        "SELECT COUNT(*), MIN(count), MAX(count), COUNT(DISTINCT delivery_id) FROM dsn_core_digest "
        "WHERE closed_at IS NOT NULL"
    ) == [(N, EVENTS, EVENTS, N)]
    assert s.query("SELECT COUNT(*) FROM dsn_core_digest WHERE closed_at IS NULL") == [(0,)]
    assert s.query("SELECT COUNT(*) FROM dsn_core_delivery") == [(N,)]
    delivered = provider.delivered()
    assert len(delivered) == N and max(delivered.values()) == 1  # each recipient got exactly one digest
    assert sum(c - 1 for c in provider.accepted().values()) <= BATCH  # repeats only from the killed batch


@pytest.mark.slow
def test_a_digest_survives_kill9_and_is_sent_once_sqlite(tmp_path: Path, provider: Provider) -> None:
    with site(tmp_path, DSN_HTTP_BATCH=str(BATCH)) as s:
        _digest_survives_kill9(s, provider)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_digest_survives_kill9_and_is_sent_once_postgres(
    tmp_path: Path, provider: Provider, need_postgres: None
) -> None:
    with site(tmp_path, engine="postgres", DSN_HTTP_BATCH=str(BATCH)) as s:
        _digest_survives_kill9(s, provider)


FAN_OUT_SHARE = """
import django, sys
django.setup()
from dsn_core.fanout import fan_out
from dsn_core.models import Notification
share = int(sys.argv[1])
ids = list(Notification.objects.order_by("pk").values_list("pk", flat=True))
for pk in ids[share::2]:  # this worker's half of the events
    fan_out(pk)
for pk in ids:  # and then all of them again, as a second pump would: counted once each
    fan_out(pk)
print("done")
"""
LIMIT, BURST = 5, 40


def _throttle_across_two_processes(s: Site, provider: Provider) -> None:
    policy = f"throttle_limit={LIMIT}, throttle_minutes=60"
    assert "fired" in s.script(SETUP.format(n=1, url=provider.url, events=BURST, policy=policy))
    workers = [
        subprocess.Popen(
            [PYTHON, "-c", FAN_OUT_SHARE, str(share)],
            env=s.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for share in (0, 1)
    ]
    for proc in workers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and "done" in out, err
    rows = dict(s.query("SELECT last_error, COUNT(*) FROM dsn_core_delivery GROUP BY last_error"))
    assert rows == {"": LIMIT, "throttled": BURST - LIMIT}
    assert s.query("SELECT count FROM dsn_core_throttlecount") == [(LIMIT,)]
    started = time.time()
    s.start_worker()
    expected = {"sent": LIMIT, "skipped": BURST - LIMIT}
    try:
        wait_until(lambda: s.statuses() == expected, 120, "the allowed messages sent and recorded")
    except AssertionError:
        raise AssertionError(f"{s.statuses()}\n{s.logs_text()}") from None
    assert len(provider.delivered()) == LIMIT
    print(f"throttle across two processes: {LIMIT} of {BURST} sent in {time.time() - started:.1f}s")


@pytest.mark.slow
def test_a_throttle_is_counted_across_two_processes_sqlite(tmp_path: Path, provider: Provider) -> None:
    with site(tmp_path) as s:
        _throttle_across_two_processes(s, provider)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_throttle_is_counted_across_two_processes_postgres(
    tmp_path: Path, provider: Provider, need_postgres: None
) -> None:
    with site(tmp_path, engine="postgres") as s:
        _throttle_across_two_processes(s, provider)
