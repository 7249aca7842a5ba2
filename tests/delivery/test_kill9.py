"""kill -9 workers in the middle of 1,000 deliveries. Every delivery must reach the provider.

For a provider without idempotency keys (the default ``http`` messenger declares none) the core
hands over one message at a time and records it at once, so a kill repeats at most the one
message in flight. For a provider that deduplicates (``DSN_HTTP_DEDUP=1``) whole batches are in
flight, and the provider answers the repeats without delivering twice.

Without any sweeper, the work a killed worker held is picked up by the next worker poll within
about one lease (its watch task), and the task rows it left ``RUNNING`` are closed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from .harness import Provider, Site, Tally, fire, site, tally, wait_until

#: Every test here runs a site on a database it chooses (see tests/conftest.py).
pytestmark = pytest.mark.own_database

N = 1000
#: Deliveries per send_batch call: the most a kill can leave "accepted but not recorded".
BATCH = 10


def kill_mid_run(s: Site, provider: Provider, label: str, *, batch: int) -> Tally:
    fire(s, N, provider.url)
    started = time.time()
    worker = s.start_worker()
    # "In the middle": wait until roughly a third has arrived, then kill -9 the worker.
    wait_until(lambda: len(provider.accepted()) >= N // 3, 120, "the first third of the deliveries")
    s.kill9(worker)
    at_kill = len(provider.accepted())
    assert at_kill < N, "the worker finished before it could be killed; the test proves nothing"
    assert s.statuses().get("sent", 0) < N
    s.start_worker()
    s.start("dsn_sweep", "--grace", "0", "--loop", "1")

    def done() -> bool:
        return s.statuses() == {"sent": N} and len(provider.accepted()) >= N

    try:
        wait_until(done, 150, f"all {N} deliveries sent", step=0.25)
    except AssertionError:
        raise AssertionError(f"{s.statuses()} {len(provider.accepted())}\n{s.logs_text()}") from None
    result = tally(s, provider, started)
    print(result.line(f"{label} (batch {batch}, killed after {at_kill} received)"))
    return result


@pytest.mark.slow
def test_kill9_sqlite_db_worker(tmp_path: Path, provider: Provider) -> None:
    batch = BATCH
    with site(tmp_path, DSN_HTTP_BATCH=str(batch)) as s:
        result = kill_mid_run(s, provider, "SQLite + db_worker", batch=batch)
        rows = s.query("SELECT COUNT(*) FROM dsn_core_delivery WHERE status='sent' AND provider_id LIKE 'fake-%'")
    assert result.expected == N
    assert result.lost == 0
    # The only repeat possible is the one message the provider accepted but the killed worker
    # had not recorded yet (one message per call for a provider without idempotency keys).
    assert result.duplicates <= 1
    assert result.delivered_twice == 0
    assert rows == [(N,)]


@pytest.mark.slow
def test_kill9_deduplicating_provider_gets_batches_and_delivers_once(tmp_path: Path, provider: Provider) -> None:
    with site(tmp_path, DSN_HTTP_BATCH=str(BATCH), DSN_HTTP_DEDUP="1") as s:
        result = kill_mid_run(s, provider, "SQLite + db_worker, deduplicating provider", batch=BATCH)
    assert result.lost == 0
    assert result.duplicates <= BATCH  # a whole batch may be repeated ...
    assert result.delivered_twice == 0  # ... and the provider delivers none of it twice


@pytest.mark.slow
@pytest.mark.postgres
def test_kill9_postgres_db_worker(tmp_path: Path, provider: Provider, need_postgres: None) -> None:
    with site(tmp_path, engine="postgres", DSN_HTTP_BATCH=str(BATCH)) as s:
        result = kill_mid_run(s, provider, "PostgreSQL + db_worker", batch=BATCH)
    assert result.expected == N
    assert result.lost == 0
    assert result.duplicates <= 1
    assert result.delivered_twice == 0


@pytest.mark.slow
def test_kill9_rq_worker(tmp_path: Path, provider: Provider, need_redis: None) -> None:
    with site(tmp_path, tasks="rq", DSN_HTTP_BATCH=str(BATCH)) as s:
        result = kill_mid_run(s, provider, "SQLite + RQ rqworker", batch=BATCH)
    assert result.expected == N
    assert result.lost == 0
    assert result.duplicates <= 1
    assert result.delivered_twice == 0


LEASE = 2.0
KILLS = 4
WORKERS = 2


def repeated_kills(s: Site, provider: Provider, label: str) -> dict[str, float]:
    """Two workers; ``KILLS`` times, once more deliveries arrived, kill -9 both and start two new
    ones at once. No sweeper. Returns the measurements."""
    fire(s, N, provider.url)
    workers = [s.start_worker() for _ in range(WORKERS)]
    killed = 0
    last_kill = 0.0
    for round_ in range(KILLS):
        target = (round_ + 1) * N // (KILLS + 2)
        wait_until(lambda t=target: len(provider.accepted()) >= t, 120, f"{target} deliveries")
        for worker in workers:
            s.kill9(worker)
            killed += 1
        last_kill = time.time()
        assert len(provider.accepted()) < N, "the run finished before the kills; the test proves nothing"
        workers = [s.start_worker() for _ in range(WORKERS)]

    def resumed() -> bool:
        with provider.lock:
            return any(h.at > last_kill for h in provider.hits)

    wait_until(resumed, 60, "sending to resume after the last kill", step=0.02)
    with provider.lock:
        resume = min(h.at for h in provider.hits if h.at > last_kill) - last_kill
    try:
        wait_until(
            lambda: s.statuses() == {"sent": N} and len(provider.accepted()) >= N,
            150,
            f"all {N} deliveries sent",
            step=0.25,
        )
    except AssertionError:
        raise AssertionError(f"{s.statuses()} {len(provider.accepted())}\n{s.logs_text()}") from None
    result = tally(s, provider, last_kill)
    # Task rows the killed workers left RUNNING are closed once a live run could not still hold
    # them (2 leases + the send deadline), by the next sweep (documented: every minute).
    running = "SELECT COUNT(*) FROM django_tasks_database_dbtaskresult WHERE status = 'RUNNING'"
    left_running = s.query(running)[0][0]
    wait_until(lambda: _closed_by_sweep(s), 60, "abandoned task rows closed by dsn_sweep", step=1)
    print(
        f"{label}: {KILLS} kills of {WORKERS} workers ({killed} processes), {result.duplicates} repeated "
        f"requests ({result.duplicates / killed:.2f} per killed worker), {result.delivered_twice} delivered "
        f"twice, {result.lost} lost; sending resumed {resume:.2f}s after the last kill (lease {LEASE:g}s); "
        f"{left_running} task rows left RUNNING by the kills, closed by the next sweep"
    )
    return {
        "resume": resume,
        "duplicates": result.duplicates,
        "killed": killed,
        "lost": result.lost,
        "twice": result.delivered_twice,
        "left_running": left_running,
    }


def _closed_by_sweep(s: Site) -> bool:
    s.run("dsn_sweep", "--grace", "0")
    return s.query("SELECT COUNT(*) FROM django_tasks_database_dbtaskresult WHERE status = 'RUNNING'")[0][0] == 0


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_repeated_kills_resume_within_two_leases_without_a_sweeper(
    tmp_path: Path, provider: Provider, engine: str, request: Any
) -> None:
    if engine == "postgres":
        request.getfixturevalue("need_postgres")
    with site(tmp_path, engine=engine, DSN_HTTP_BATCH=str(BATCH), DSN_LEASE_SECONDS=str(LEASE)) as s:
        m = repeated_kills(s, provider, f"{engine} + db_worker")
    assert m["lost"] == 0 and m["twice"] == 0
    assert m["duplicates"] <= m["killed"], "more than one repeated message per killed worker"
    assert m["resume"] <= 2 * LEASE, f"sending resumed {m['resume']:.2f}s after the last kill"
    assert m["left_running"] >= 1, "the kills left no RUNNING task row: the clean-up proves nothing"
