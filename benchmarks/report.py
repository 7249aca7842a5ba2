"""The machine description, the targets of issue 6, and the printed table."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from typing import Any

PEER_NOTE = (
    "django-notifications-hq 1.8.3 (newest release) cannot import on Django >= 5.1: its Meta uses "
    "index_together (TypeError: 'class Meta' got invalid attribute(s): index_together). Measured: the same "
    "release, unmodified, with benchmarks/peer_compat.py letting Django accept that option."
)


def machine() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and Django versions."""
    import django

    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kib = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
            mem = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
    }


def filesystem(path: str) -> str:
    try:
        out = subprocess.run(["df", "-T", path], capture_output=True, text=True, timeout=5).stdout.splitlines()
        return out[1].split()[1] if len(out) > 1 else "?"
    except Exception:
        return "?"


def pg_version() -> str:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=3) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])


def _get(results: dict[str, Any], name: str, *keys: str) -> Any:
    entry: Any = results.get(name) or {}
    if "error" in entry:
        return None
    for key in keys:
        entry = entry.get(key) if isinstance(entry, dict) else None
    return entry


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue, per database: the measured value and whether it is met."""
    rows: list[dict[str, Any]] = []

    def add(db: str, target: str, value: Any, met: bool | None, shown: str) -> None:
        rows.append({"db": db, "target": target, "value": value, "met": met, "shown": shown})

    for db, entry in doc["databases"].items():
        r = entry.get("results", {})
        base, idle = _get(r, "no_dsn", "per_op_s"), _get(r, "dsn_100_other_triggers", "per_op_s")
        if base and idle:
            ratio = idle / base
            extra_q = _get(r, "dsn_100_other_triggers", "queries_per_op") - _get(r, "no_dsn", "queries_per_op")
            add(
                db,
                "no matching trigger: <= 2 % slower, 0 extra queries",
                ratio,
                ratio <= 1.02 and extra_q == 0,
                f"{(ratio - 1) * 100:+.1f} % wall, {extra_q:+g} queries",
            )
            cbase, cidle = _get(r, "no_dsn", "cpu_per_op_s"), _get(r, "dsn_100_other_triggers", "cpu_per_op_s")
            if cbase and cidle:
                add(db, "  (same, CPU time of the process)", cidle / cbase, None, f"{(cidle / cbase - 1) * 100:+.1f} %")
            heard = _get(r, "dsn_100_other_triggers", "item_save_signals_heard")
            if heard is not None:
                add(db, "  (signals of an Item save with any receiver, DSN installed)", heard, None, str(heard))
            control = _get(r, "no_dsn_control", "per_op_s")
            if control:
                add(
                    db,
                    "  (A/A: a second, identical no-DSN process)",
                    control / base,
                    None,
                    f"{(control / base - 1) * 100:+.1f} % wall",
                )
        limit = _get(r, "one_insert_limit", "per_op_s")
        matches = {n: _get(r, f"dsn_match_{n}", "per_op_s") for n in (1, 100, 10_000)}
        found = {n: v for n, v in matches.items() if v}
        if limit and found:
            worst = max(found.values()) / limit
            add(
                db,
                "matching trigger: <= 1.5x the one-INSERT limit",
                worst,
                worst <= 1.5,
                ", ".join(f"{n:,}: {v / limit:.2f}x" for n, v in found.items()),
            )
        if len(found) == 3:
            spread = max(found.values()) / min(found.values())
            add(db, "flat from 1 to 10,000 receivers (within 10 %)", spread, spread <= 1.10, f"max/min {spread:.3f}")
        fan = _get(r, "fanout_10000", "seconds")
        if fan is not None:
            add(
                db,
                "fan-out 10,000 deliveries <= 1 s" + ("" if db == "sqlite" else " (target is for SQLite)"),
                fan,
                fan <= 1.0,
                f"{fan:.2f} s",
            )
        mem = _get(r, "fanout_100000", "rss_growth_mib")
        if mem is not None:
            add(db, "fan-out 100,000: <= 100 MB peak memory growth", mem, mem <= 100, f"{mem:.0f} MiB RSS")
        rate = _get(r, "render", "per_s")
        if rate is not None:
            add(db, "rendering >= 10,000 messages/s on one core", rate, rate >= 10_000, f"{rate:,.0f}/s")
        for name, label in (
            ("worker_dedup", "batches"),
            ("worker_single", "one message per call"),
            ("worker_dedup_keep", "batches, connections kept open"),
            ("worker_single_async", "one message per call, synchronous_commit=off"),
        ):
            rate = _get(r, name, "per_s")
            if rate is not None:
                limit = _get(r, name, "limit_per_s") or 0
                add(
                    db,
                    f"one worker, no-I/O messenger ({label}) >= 5,000 deliveries/s save() to sent",
                    rate,
                    rate >= 5_000,
                    f"{rate:,.0f}/s (insert-and-mark limit {limit:,.0f}/s)",
                )
                add(
                    db,
                    f"one worker ({label}) >= 1/5 of the insert-and-mark limit",
                    rate,
                    bool(limit) and rate >= limit / 5,
                    f"{rate / limit:.2f} of the limit" if limit else "no limit measured",
                )
            for suffix, mode in (("", ""), ("_wal", ", SQLite in WAL mode"), ("_keep", ", connections kept open")):
                one = _get(r, f"{name}{suffix}", "per_s")
                two = _get(r, f"{name}_2{suffix}", "per_s")
                if one is None or two is None:
                    continue
                busy = _median(_get(r, f"{name}{suffix}", "cores_busy_machine") or [])
                cores = _get(r, f"{name}{suffix}", "cores") or 0
                bound = ""
                if busy:
                    bound = f"; one worker kept {busy:.2f} of {cores} cores busy: at most {cores / busy:.2f}x"
                pairs = _get(r, f"{name}_2{suffix}", "pair_ratios") or []
                if pairs:  # one worker alternated with two in the same process: ratio per pair
                    ratio = _median(pairs)
                    shown = (
                        f"{ratio:.2f}x, median of {len(pairs)} alternated pairs "
                        f"({', '.join(f'{p:.2f}' for p in pairs)}); across scenarios {two / one:.2f}x"
                    )
                else:
                    ratio = two / one
                    shown = f"{two:,.0f}/s = {ratio:.2f}x"
                add(db, f"two workers ({label}{mode}) >= 1.8x one", ratio, ratio >= 1.8, shown + bound)
        ratio = _get(r, "smtp", "ratio")
        if ratio is not None:
            plain = _get(r, "smtp", "plain", "ratio")
            shown = f"{ratio:.1f}x with STARTTLS+AUTH" + (f" ({plain:.1f}x plain loopback)" if plain else "")
            add(db, "one SMTP session >= 5x faster than one per message", ratio, ratio >= 5, shown)
        for name, label in (
            ("telegram_rate", "Telegram"),
            ("rate_batch_100", "locmem, max_batch_size=100"),
            ("rate_batch_1", "locmem, max_batch_size=1"),
        ):
            per_s, busiest = _get(r, name, "rate_per_s"), _get(r, name, "max_in_window")
            if per_s is not None:
                ok = per_s >= 0.95 * 30 and busiest <= 30
                add(
                    db,
                    f"30 msg/s limit: >= 95 % and never above ({label})",
                    per_s,
                    ok,
                    f"{per_s:.1f}/s, busiest second {busiest}",
                )
    return rows


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3f}"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _busy(e: dict[str, Any]) -> str:
    """Cores kept busy during a worker run: its own processes, and the whole machine."""
    own, machine = e.get("cores_busy_own"), e.get("cores_busy_machine")
    if not own:
        return ""
    return f"; cores busy: {_median(own):.2f} own, {_median(machine or []):.2f} machine (of {e.get('cores')})"


def _alternated(e: dict[str, Any]) -> str:
    """One worker timed in alternation with several, in the same process (see the scenario)."""
    one = e.get("one_worker_times")
    if not one:
        return ""
    return f"; one worker alternated with them: runs {', '.join(f'{t:.2f}' for t in one)} s"


def table(doc: dict[str, Any]) -> str:
    """The plain-text (Markdown) table of one run."""
    lines = [f"DSN benchmarks — `{doc['command']}`", ""]
    m = doc["machine"]
    lines.append(
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, {m['os']}, Python {m['python']}, "
        f"Django {m['django']}{' (--quick)' if doc['quick'] else ''}"
    )
    for db, entry in doc["databases"].items():
        lines += ["", f"### {db}: {entry.get('where', '')} {entry.get('server', '')}".rstrip()]
        if entry.get("skipped"):
            lines.append(entry["skipped"])
            continue
        r = entry["results"]
        base = _get(r, "no_dsn", "per_op_s")
        limit = _get(r, "one_insert_limit", "per_op_s")
        create_rows = [
            n for n in r if "wall_samples" in (r[n] or {}) or n.startswith(("dsn_", "peer_", "no_dsn", "one_insert"))
        ]
        if create_rows:
            lines += [
                "",
                "`Item.objects.create()` in autocommit (median of batches, interleaved):",
                "",
                "| scenario | ms/op (wall) | ms/op (CPU) | queries/op | vs no DSN | vs one-INSERT limit | batches |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            for name in create_rows:
                e = r[name]
                if "error" in e:
                    lines.append(f"| {name} | error: {e['error']} | | | | | |")
                    continue
                per = e["per_op_s"]
                lines.append(
                    f"| {name} | {_ms(per)} | {_ms(e.get('cpu_per_op_s'))} | {e.get('queries_per_op', 0):g} | "
                    f"{per / base:.3f}x | {per / limit:.2f}x | {e['repeats']} x {e['batch']} |"
                    if base and limit
                    else f"| {name} | {_ms(per)} | | | | | |"
                )
            if any(n.startswith("peer_") for n in r):
                lines += ["", f"Peer: {PEER_NOTE}"]
            m1, d1 = _get(r, "dsn_match_1", "per_op_s"), _get(r, "dsn_match_1_dummy_enqueue", "per_op_s")
            if m1 and d1:
                lines.append(
                    f"Enqueue of the fan-out task (django_tasks_db.DatabaseBackend vs dummy backend): "
                    f"{(m1 - d1) * 1e3:.3f} ms per matched event."
                )
        worker = []
        for n in (10_000, 100_000):
            e = r.get(f"fanout_{n}")
            if e:
                worker.append(
                    f"| fan-out to {n:,} receivers | "
                    + (
                        f"error: {e['error']} |"
                        if "error" in e
                        else f"{e['seconds']:.2f} s (first {e['first_run_s']:.2f} s), "
                        f"{e['deliveries_per_run'][0]:,} deliveries, "
                        f"peak RSS growth {e['rss_growth_mib']:.0f} MiB"
                        + (f", {e['queries']} queries" if e.get("queries") else "")
                        + " |"
                    )
                )
        e = r.get("render")
        if e:
            worker.append(
                "| rendering (build_messages) | "
                + (
                    f"error: {e['error']} |"
                    if "error" in e
                    else f"{e['per_s']:,.0f} messages/s wall, {e.get('cpu_per_s', 0):,.0f}/s CPU "
                    f"({e['messages']:,} messages); full send path with locmem "
                    f"(claim, render, send, record): {e['drain_per_s']:,.0f}/s |"
                )
            )
        for name, label in (
            ("worker_dedup", "deduplicating provider: batches of 100"),
            ("worker_single", "no idempotency key: one message per call, each recorded"),
            ("worker_dedup_2", "deduplicating provider: batches of 100"),
            ("worker_single_2", "no idempotency key: one message per call, each recorded"),
            ("worker_dedup_wal", "deduplicating provider: batches of 100; SQLite in WAL mode"),
            ("worker_dedup_2_wal", "deduplicating provider: batches of 100; SQLite in WAL mode"),
            ("worker_dedup_keep", "deduplicating provider: batches of 100; connections kept open"),
            ("worker_dedup_2_keep", "deduplicating provider: batches of 100; connections kept open"),
            ("worker_single_async", "one message per call; synchronous_commit=off"),
        ):
            e = r.get(name)
            if e:
                count = "two workers" if "_2" in name else "one worker"
                worker.append(
                    f"| {count}, save() to sent, no-I/O messenger ({label}) | "
                    + (
                        f"error: {e['error']} |"
                        if "error" in e
                        else f"{e['per_s']:,.0f} deliveries/s ({e['deliveries']:,}, runs "
                        f"{', '.join(f'{t:.2f}' for t in e['times'])} s); insert-and-mark limit "
                        f"{e['limit_per_s']:,.0f}/s; {e['queries_per_batch_of_100']} queries per batch of 100"
                        + _busy(e)
                        + _alternated(e)
                        + " |"
                    )
                )
        e = r.get("smtp")
        if e and "error" in e:
            worker.append(f"| SMTP, aiosmtpd on loopback | error: {e['error']} |")
        elif e:
            for variant, label in (("plain", "plain"), ("starttls_auth", "STARTTLS + AUTH")):
                v = e.get(variant)
                if v:
                    worker.append(
                        f"| SMTP ({label}), aiosmtpd on loopback | {e['messenger']}: one session "
                        f"{v['one_session']['per_s']:,.0f}/s, one session per message "
                        f"{v['per_message']['per_s']:,.0f}/s: {v['ratio']:.1f}x ({e['messages']} messages)"
                        + "".join(
                            f"; {n} sessions in parallel {v[key]['per_s']:,.0f}/s ({v[key]['vs_one_session']:.1f}x one)"
                            for n, key in ((2, "two_sessions_parallel"), (4, "four_sessions_parallel"))
                            if key in v
                        )
                        + " |"
                    )
        e = r.get("telegram_rate")
        if e:
            worker.append(
                "| Telegram, 30/s bot limit | "
                + (
                    f"error: {e['error']} |"
                    if "error" in e
                    else f"{e['messenger']}: {e['rate_per_s']:.2f}/s over {e['sent']} messages, busiest 1 s "
                    f"window {e['max_in_window']} |"
                )
            )
        for batch in (100, 1):
            e = r.get(f"rate_batch_{batch}")
            if e:
                worker.append(
                    f"| rate limit 30/s, max_batch_size={batch} | "
                    + (
                        f"error: {e['error']} |"
                        if "error" in e
                        else f"{e['messenger']}: {e['rate_per_s']:.2f}/s over {e['sent']} messages, busiest 1 s window "
                        f"{e['max_in_window']} |"
                    )
                )
        if worker:
            lines += ["", "| worker side | result |", "| --- | --- |", *worker]
    rows = doc.get("targets") or []
    if rows:
        lines += ["", "### Targets", "", "| database | target | measured | met |", "| --- | --- | --- | --- |"]
        for t in rows:
            met = "" if t["met"] is None else ("yes" if t["met"] else "**no**")
            lines.append(f"| {t['db']} | {t['target']} | {t['shown']} | {met} |")
    lines.append("")
    lines.append(f"Total time: {doc.get('seconds', 0):.0f} s")
    return "\n".join(lines)
