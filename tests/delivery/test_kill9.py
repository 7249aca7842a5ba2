"""kill -9 a worker in the middle of 1,000 deliveries; a new worker and the sweeper finish the
run. Every delivery must reach the provider, and be delivered exactly once: the requests a
killed worker had sent but not recorded are sent again (counted and reported), and the
provider, like real ones that take an Idempotency-Key, answers them without delivering twice.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .harness import Provider, Site, Tally, fire, site, tally, wait_until

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
    # The only duplicates possible are deliveries the provider accepted but the killed worker had
    # not recorded yet: at most one batch (what send_batch had sent when the worker died).
    assert result.duplicates <= batch
    assert result.delivered_twice == 0
    assert rows == [(N,)]


@pytest.mark.slow
@pytest.mark.postgres
def test_kill9_postgres_db_worker(tmp_path: Path, provider: Provider, need_postgres: None) -> None:
    with site(tmp_path, engine="postgres", DSN_HTTP_BATCH=str(BATCH)) as s:
        result = kill_mid_run(s, provider, "PostgreSQL + db_worker", batch=BATCH)
    assert result.expected == N
    assert result.lost == 0
    assert result.duplicates <= BATCH
    assert result.delivered_twice == 0


@pytest.mark.slow
def test_kill9_rq_worker(tmp_path: Path, provider: Provider, need_redis: None) -> None:
    with site(tmp_path, tasks="rq", DSN_HTTP_BATCH=str(BATCH)) as s:
        result = kill_mid_run(s, provider, "SQLite + RQ rqworker", batch=BATCH)
    assert result.expected == N
    assert result.lost == 0
    assert result.duplicates <= BATCH
    assert result.delivered_twice == 0
