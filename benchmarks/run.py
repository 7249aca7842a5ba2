"""The benchmark runner: ``python -m benchmarks [--quick] [--sections ...] [--db ...]``.

Every scenario runs in a fresh process with its own settings module and its own database
(``benchmarks/settings_*.py``), so "DSN not installed" has no ``dsn_core`` at all. The
``Model.objects.create()`` scenarios of one database run side by side: all their processes
are started, set up and warmed up, then the runner asks each in turn for one batch, round
after round, so that the machine's noise falls on every scenario alike. Figures are
medians of those batches. The result is printed as a table and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import report

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("hot", "peer", "fanout", "render", "worker", "smtp", "rate")


@dataclass
class Database:
    """Where one scenario process keeps its data."""

    kind: str  # "sqlite" or "postgres"
    location: str  # a directory (SQLite) or the database name prefix (PostgreSQL)
    created: list[str] = field(default_factory=list)

    def env_for(self, scenario: str) -> dict[str, str]:
        if self.kind == "sqlite":
            path = os.path.join(self.location, f"{scenario}.sqlite3")
            for suffix in ("", "-journal", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
            return {"BENCH_DB": "sqlite", "BENCH_DB_NAME": path}
        name = f"{self.location}_{scenario}".lower()
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return {"BENCH_DB": "postgres", "BENCH_DB_NAME": name}

    def cleanup(self) -> None:
        if self.kind == "sqlite":
            shutil.rmtree(self.location, ignore_errors=True)
        else:
            for name in self.created:
                _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True, connect_timeout=3
    ) as conn:
        for sql in statements:
            conn.execute(sql)


def postgres_reachable() -> str:
    """``""`` when PostgreSQL on 127.0.0.1:5432 answers, else why not."""
    try:
        import psycopg  # noqa: F401

        _pg_admin("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return ""


# -- scenario processes ---------------------------------------------------------------------


def _env(settings: str, db_env: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(db_env)
    env.update(extra or {})
    env["DJANGO_SETTINGS_MODULE"] = settings
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("NO_PROXY", "127.0.0.1,localhost")
    return env


def run_once(name: str, settings: str, spec: dict[str, Any], env: dict[str, str], out_dir: Path) -> dict[str, Any]:
    """Run one scenario process to completion; return its JSON result (or the error)."""
    out = out_dir / f"{name}.json"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.scenario", json.dumps(spec), str(out)],
        env=_env(settings, env),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return {
            "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}",
            "stderr": proc.stderr[-4000:],
        }
    result = json.loads(out.read_text())
    result["process_s"] = time.perf_counter() - started
    return result


@dataclass
class Lockstep:
    """One ``create`` scenario process, driven batch by batch."""

    name: str
    proc: subprocess.Popen[str]
    out: Path
    estimate: float = 0.0
    batch: int = 1
    repeats: int = 1
    error: str = ""

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited")
        return json.loads(line)


def run_lockstep(
    scenarios: dict[str, tuple[str, dict[str, Any], dict[str, str]]],
    db: Database,
    out_dir: Path,
    *,
    batch_seconds: float,
    repeats: int,
    budget: float,
    log: Any,
) -> dict[str, dict[str, Any]]:
    """Run ``create`` scenarios side by side, interleaving their batches."""
    workers: list[Lockstep] = []
    for name, (settings, spec, extra_env) in scenarios.items():
        out = out_dir / f"{name}.json"
        env = _env(settings, db.env_for(name), extra_env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.scenario", json.dumps(spec), str(out)],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        workers.append(Lockstep(name, proc, out))
    for w in workers:  # setups run in parallel; wait for each to be warm
        assert w.proc.stdout
        line = w.proc.stdout.readline()
        if not line:
            w.error = _last_line(w.proc)
            log(f"  {w.name}: failed: {w.error}")
            continue
        w.estimate = json.loads(line)["ready"]
        w.batch = max(1, round(batch_seconds / w.estimate))
        w.repeats = max(3, min(repeats, int(budget / (w.batch * w.estimate))))
        w.repeats = min(w.repeats, scenarios[w.name][1].get("max_repeats", w.repeats))
        log(f"  {w.name}: ready, ~{w.estimate * 1e3:.2f} ms/op, {w.repeats} batches of {w.batch}")
    live = [w for w in workers if not w.error]
    rounds = max((w.repeats for w in live), default=0)
    for r in range(rounds):
        order = live[r % len(live) :] + live[: r % len(live)]
        for w in order:
            if r < w.repeats and not w.error:
                try:
                    w.ask({"batch": w.batch})
                except Exception as exc:
                    w.error = f"{exc}: {_last_line(w.proc)}"
    results: dict[str, dict[str, Any]] = {}
    for w in workers:
        if not w.error:
            try:
                w.ask({"queries": min(10, w.batch)})
                w.proc.stdin.write(json.dumps({"done": True}) + "\n")  # type: ignore[union-attr]
                w.proc.stdin.close()  # type: ignore[union-attr]
            except Exception as exc:
                w.error = f"{exc}: {_last_line(w.proc)}"
        w.proc.wait(timeout=120)
        if w.error or w.proc.returncode:
            results[w.name] = {"error": w.error or _last_line(w.proc)}
            continue
        data = json.loads(w.out.read_text())
        data.update(
            per_op_s=statistics.median(data["wall_samples"]),
            cpu_per_op_s=statistics.median(data["cpu_samples"]),
            batch=w.batch,
            repeats=w.repeats,
        )
        results[w.name] = data
    return results


def _last_line(proc: subprocess.Popen[str]) -> str:
    try:
        err = proc.stderr.read() if proc.stderr else ""  # type: ignore[union-attr]
    except Exception:
        err = ""
    lines = [x for x in err.strip().splitlines() if x.strip()]
    return lines[-1] if lines else f"exit {proc.poll()}"


# -- the plan -------------------------------------------------------------------------------


def create_scenarios(sections: set[str], quick: bool) -> dict[str, tuple[str, dict[str, Any], dict[str, str]]]:
    dsn, nodsn, peer = "benchmarks.settings_dsn", "benchmarks.settings_nodsn", "benchmarks.settings_peer"
    plan: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {}
    if sections & {"hot", "peer"}:
        plan["no_dsn"] = (nodsn, {"kind": "create", "mode": "none"}, {})
        plan["one_insert_limit"] = (nodsn, {"kind": "create", "mode": "limit"}, {})
    if "hot" in sections:
        # A/A control: a second, identical no-DSN process. How far it lands from no_dsn is the
        # noise floor of comparing two processes on this machine.
        plan["no_dsn_control"] = (nodsn, {"kind": "create", "mode": "none"}, {})
        plan["dsn_100_other_triggers"] = (dsn, {"kind": "create", "mode": "dsn", "others": 100}, {})
        for n in (1, 100, 10_000):
            plan[f"dsn_match_{n}"] = (dsn, {"kind": "create", "mode": "dsn", "others": 100, "receivers": n}, {})
        plan["dsn_match_1_dummy_enqueue"] = (
            dsn,
            {"kind": "create", "mode": "dsn", "others": 100, "receivers": 1},
            {"BENCH_TASK_BACKEND": "dummy"},
        )
    if "peer" in sections:
        for n in (1, 100) if quick else (1, 100, 10_000):
            spec: dict[str, Any] = {"kind": "create", "mode": "peer", "receivers": n}
            if n >= 100:  # one event is n INSERTs, each its own commit: warm up briefly
                spec.update(warmup=2, estimate_ops=2)
            if n == 10_000:
                spec.update(warmup=1, estimate_ops=1, max_repeats=3)
            plan[f"peer_notify_{n}"] = (peer, spec, {})
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter batches (a few minutes)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, from {','.join(SECTIONS)}")
    parser.add_argument(
        "--db",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (skipped with a note when unreachable)",
    )
    parser.add_argument(
        "--sqlite-dir",
        default=tempfile.gettempdir(),
        help="directory for the SQLite files (default: the system temp dir)",
    )
    parser.add_argument(
        "--json", default=str(ROOT / "benchmarks" / "results" / "latest.json"), help="where to write the JSON result"
    )
    args = parser.parse_args(argv)
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    quick = args.quick

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = time.time()
    doc: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]),
        "machine": report.machine(),
        "quick": quick,
        "databases": {},
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    out_dir = Path(tempfile.mkdtemp(prefix="dsn-bench-results-"))
    for kind in [d.strip() for d in args.db.split(",") if d.strip()]:
        entry: dict[str, Any] = {"results": {}}
        doc["databases"][kind] = entry
        if kind == "postgres":
            why = postgres_reachable()
            if why:
                entry["skipped"] = f"PostgreSQL on 127.0.0.1:5432 not reachable: {why}"
                log(entry["skipped"])
                continue
            db = Database("postgres", f"dsn_bench_{os.getpid()}")
            entry["where"] = "PostgreSQL on 127.0.0.1:5432, one database per scenario"
            entry["server"] = report.pg_version()
        elif kind == "sqlite":
            db = Database("sqlite", tempfile.mkdtemp(prefix="dsn-bench-", dir=args.sqlite_dir))
            entry["where"] = f"SQLite file in {args.sqlite_dir} ({report.filesystem(args.sqlite_dir)}), Django defaults"
        else:
            parser.error(f"unknown database {kind!r}")
        log(f"== {kind}: {entry['where']}")
        results = entry["results"]
        try:
            plan = create_scenarios(sections, quick)
            if plan:
                log("create() scenarios, side by side:")
                results.update(
                    run_lockstep(
                        plan,
                        db,
                        out_dir,
                        batch_seconds=0.05 if quick else 0.1,
                        repeats=15 if quick else 41,
                        budget=4.0 if quick else 15.0,
                        log=log,
                    )
                )
            if "fanout" in sections:
                for n in (10_000, 100_000):
                    name = f"fanout_{n}"
                    log(f"{name}: setup")
                    env = db.env_for(name)
                    reps = (3 if n == 10_000 else 1) if quick else (5 if n == 10_000 else 2)
                    spec = {"receivers": n, "repeats": reps}
                    setup = run_once(
                        name + "_setup", "benchmarks.settings_dsn", {"kind": "fanout_setup", **spec}, env, out_dir
                    )
                    if "error" in setup:
                        results[name] = setup
                        continue
                    log(f"{name}: run")
                    results[name] = run_once(
                        name, "benchmarks.settings_dsn", {"kind": "fanout_run", **spec}, env, out_dir
                    )
            if "render" in sections:
                log("render")
                results["render"] = run_once(
                    "render",
                    "benchmarks.settings_dsn",
                    {"kind": "render", "receivers": 2000 if quick else 10_000, "repeats": 3 if quick else 5},
                    db.env_for("render"),
                    out_dir,
                )
            if "worker" in sections:
                # (name, deduplicating provider, worker processes, settings variable or "")
                variants = [("worker_dedup", True, 1, ""), ("worker_single", False, 1, "")]
                variants += [("worker_dedup_2", True, 2, ""), ("worker_single_2", False, 2, "")]
                if kind == "sqlite":  # several workers on one file: as docs/deployment.md recommends
                    wal = "BENCH_SQLITE_WAL"
                    variants += [("worker_dedup_wal", True, 1, wal), ("worker_dedup_2_wal", True, 2, wal)]
                else:
                    # Worker connections kept open (CONN_MAX_AGE), as docs/deployment.md recommends;
                    # one commit per message without waiting for the WAL flush.
                    keep = "BENCH_PG_KEEP_CONNECTIONS"
                    variants += [("worker_dedup_keep", True, 1, keep), ("worker_dedup_2_keep", True, 2, keep)]
                    variants += [("worker_single_async", False, 1, "BENCH_PG_ASYNC_COMMIT")]
                for name, dedup, processes, variant in variants:
                    log(name)
                    env = db.env_for(name)
                    if variant:
                        env[variant] = "1"
                    results[name] = run_once(
                        name,
                        "benchmarks.settings_dsn",
                        {
                            "kind": "worker",
                            "events": 10,
                            "receivers": 500 if quick else 1000,
                            "repeats": 5 if processes > 1 and not quick else 3,
                            "dedup": dedup,
                            "workers": processes,
                            "profile": not quick and processes == 1 and not variant,
                        },
                        env,
                        out_dir,
                    )
            if "smtp" in sections and kind == "sqlite":  # the database plays no part
                log("smtp")
                results["smtp"] = run_once(
                    "smtp",
                    "benchmarks.settings_dsn",
                    {"kind": "smtp", "messages": 200 if quick else 1000, "repeats": 3},
                    db.env_for("smtp"),
                    out_dir,
                )
            if "rate" in sections:
                log("telegram_rate")
                results["telegram_rate"] = run_once(
                    "telegram_rate",
                    "benchmarks.settings_dsn",
                    {"kind": "telegram_rate", "messages": 150 if quick else 600},
                    db.env_for("telegram_rate"),
                    out_dir,
                )
                for batch in (100, 1):
                    name = f"rate_batch_{batch}"
                    log(name)
                    results[name] = run_once(
                        name,
                        "benchmarks.settings_dsn",
                        {"kind": "ratelimit", "messages": 120 if quick else 600, "batch_size": batch},
                        db.env_for(name),
                        out_dir,
                    )
        finally:
            db.cleanup()
    doc["seconds"] = time.time() - started
    doc["targets"] = report.targets(doc)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(doc, indent=1, default=str))
    print(report.table(doc))
    log(f"JSON written to {args.json}")
    shutil.rmtree(out_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
