"""The cost of a digest window: ``python -m benchmarks.digest [--db sqlite,postgres]``.

10,000 events for 1,000 recipients (each event is for its owner, ten per person), fanned out
through a subscription that digests them for an hour, then every window closed and sent
(one message per person, rendered with its ten events) -- against the same events sent one
message each (no policy). Each mode runs in a fresh process with a database of its own;
the figures are wall time, queries and resident-memory growth per phase.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEXT = (
    "{% if events %}{{ count }} updates: {% for e in events %}{{ e.instance.title }}; {% endfor %}"
    "{% else %}{{ instance.title }}{% endif %}"
)


class _Counter:
    """Counts queries through ``connection.execute_wrapper`` (no SQL kept, so memory is not skewed)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.n += 1
        return execute(sql, params, many, context)


def _phase(name: str, op: Any, out: dict[str, Any]) -> Any:
    from django.db import connection

    from benchmarks.scenario import _rss_kib

    counter = _Counter()
    gc.collect()
    before = _rss_kib("VmRSS")
    start = time.perf_counter()
    with connection.execute_wrapper(counter):
        result = op()
    out[name] = {
        "seconds": round(time.perf_counter() - start, 3),
        "queries": counter.n,
        "rss_growth_mib": round((_rss_kib("VmHWM") - before) / 1024, 1),
    }
    return result


def scenario(mode: str, recipients: int, events: int) -> dict[str, Any]:
    """One run in this process: set up, fire, fan out, (close windows), send."""
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction
    from django.utils import timezone

    from benchmarks.benchapp.models import Item
    from benchmarks.scenario import _migrate, _reset_peak_rss, _users
    from dsn_core.builtins import outbox
    from dsn_core.fanout import fan_out
    from dsn_core.models import Backend, MessageTemplate, Notification, Subscription, SubscriptionPolicy, Trigger
    from dsn_core.orchestration.digests import close_due
    from dsn_core.sending import drain

    _migrate()
    owners = _users(recipients)
    template = MessageTemplate.objects.create(name="digest", subject="Updates", text=TEXT)
    backend = Backend.objects.create(name="locmem", messenger="locmem", template=template)
    trigger = Trigger.objects.create(
        name="item saved", verb="post_save", action_object_type=ContentType.objects.get_for_model(Item)
    )
    sub = Subscription.objects.create(trigger=trigger, dynamic_receivers=["instance.owner"])
    sub.backends.add(backend)
    if mode == "digest":
        SubscriptionPolicy.objects.create(
            subscription=sub, digest="window", digest_minutes=60, respect_quiet_hours=False
        )
    for start in range(0, events, 500):
        with transaction.atomic():
            for i in range(start, min(events, start + 500)):
                Item.objects.create(title=f"item {i}", owner_id=owners[i % recipients])
    ids = list(Notification.objects.order_by("pk").values_list("pk", flat=True))
    assert len(ids) == events
    out: dict[str, Any] = {"mode": mode, "recipients": recipients, "events": events, "peak_reset": _reset_peak_rss()}
    _phase("fan_out", lambda: [fan_out(pk) for pk in ids], out)
    if mode == "digest":
        later = timezone.now() + timedelta(hours=1, minutes=1)
        out["windows_closed"] = _phase("close", lambda: close_due(later, limit=recipients + 1), out)
    outbox.clear()
    _phase("send", lambda: drain(backend.pk, max_batches=100_000), out)
    out["messages"] = len(outbox)
    if mode == "digest":
        out["events_in_messages"] = sum(int(m.text.split(" ", 1)[0]) for m in outbox)
    total = {
        k: round(sum(out[p][k] for p in ("fan_out", "close", "send") if p in out), 3) for k in ("seconds", "queries")
    }
    out["total"] = total
    return out


def _run(mode: str, db: Any, recipients: int, events: int, tmp: Path) -> dict[str, Any]:
    from benchmarks.run import _env

    env = _env("benchmarks.settings_dsn", db.env_for(f"digest_{mode}"), {"BENCH_TASK_BACKEND": "dummy"})
    result_path = tmp / f"{mode}.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.digest",
            "--scenario",
            mode,
            "--recipients",
            str(recipients),
            "--events",
            str(events),
            "--out",
            str(result_path),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        return {"error": proc.stderr[-3000:]}
    return json.loads(result_path.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", help="comma-separated: sqlite, postgres")
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--json", default="benchmarks/results/digest.json")
    parser.add_argument("--sqlite-dir", default=None, help="directory for the SQLite files (e.g. /dev/shm)")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scenario:
        Path(args.out).write_text(json.dumps(scenario(args.scenario, args.recipients, args.events)))
        return 0
    from benchmarks.run import Database, postgres_reachable

    doc: dict[str, Any] = {}
    for kind in [d.strip() for d in args.db.split(",") if d.strip()]:
        if kind == "postgres" and (why := postgres_reachable()):
            doc[kind] = {"skipped": why}
            continue
        with tempfile.TemporaryDirectory(prefix="dsn-digest-bench-", dir=args.sqlite_dir) as tmp:
            db = Database(kind, tmp if kind == "sqlite" else f"dsn_digest_bench_{int(time.time())}")
            try:
                doc[kind] = {
                    mode: _run(mode, db, args.recipients, args.events, Path(tmp)) for mode in ("digest", "plain")
                }
            finally:
                db.cleanup()
        for mode, r in doc[kind].items():
            if "error" in r:
                print(f"{kind} {mode}: ERROR\n{r['error']}")
                continue
            phases = ", ".join(
                f"{p} {r[p]['seconds']:.2f} s / {r[p]['queries']} q / +{r[p]['rss_growth_mib']} MiB"
                for p in ("fan_out", "close", "send")
                if p in r
            )
            print(
                f"{kind} {mode}: {r['events']} events, {r['recipients']} recipients -> {r['messages']} messages; "
                f"{phases}; total {r['total']['seconds']:.2f} s, {r['total']['queries']} queries"
            )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
