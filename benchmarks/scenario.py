"""One benchmark scenario, run in a fresh process by :mod:`benchmarks.run`.

``python -m benchmarks.scenario '<json spec>' <result path>`` with ``DJANGO_SETTINGS_MODULE``
and ``BENCH_DB``/``BENCH_DB_NAME`` set by the runner. The spec's ``kind`` picks the
function below; the result is written as JSON to the result path.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import django

Spec = dict[str, Any]


# -- helpers -------------------------------------------------------------------------------


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _users(count: int, prefix: str = "r") -> list[int]:
    """Create ``count`` active users quickly; return their primary keys."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    step = 5000
    for start in range(0, count, step):
        user_model.objects.bulk_create(
            [
                user_model(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com", password="!")
                for i in range(start, min(count, start + step))
            ],
            batch_size=500,
        )
    return list(user_model.objects.filter(username__startswith=prefix).values_list("pk", flat=True))


def _actor() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create(username="actor", is_staff=True, password="!")


def _queries(op: Callable[[], None], count: int) -> tuple[float, list[str]]:
    """Queries per operation (Django's own capture) and the SQL of the last operation."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        for _ in range(count):
            op()
    per_op = len(ctx.captured_queries) / count
    last = ctx.captured_queries[-round(per_op) :] if per_op else []
    return per_op, [_short_sql(q["sql"]) for q in last]


def _short_sql(sql: str) -> str:
    words = sql.replace('"', "").split()
    head = " ".join(words[:3])
    if words and words[0].upper() in ("SELECT", "UPDATE", "DELETE"):
        table = next((w for w in words if "_" in w and w.islower() and "." not in w), "")
        for i, w in enumerate(words):
            if w.upper() in ("FROM", "UPDATE") and i + 1 < len(words):
                table = words[i + 1]
                break
        head = f"{words[0]} {table}"
    return head[:80]


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# -- the hot path --------------------------------------------------------------------------


def _dsn_config(others: int, match_receivers: int | None, messenger: str = "locmem") -> dict[str, Any]:
    """``others`` enabled triggers that never match an Item create, and optionally one that does."""
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType

    from benchmarks.benchapp.models import Category, Comment, Invoice, Item, Tag
    from dsn_core.models import Backend, MessageTemplate, Subscription, Trigger

    template = MessageTemplate.objects.create(
        name="bench",
        subject="{{ instance.title }} was created",
        text="Hello {{ recipient.username }},\n{{ actor }} created {{ instance.title }} ({{ verb }}, "
        "status {{ instance.status }}).\nUnsubscribe: {{ unsubscribe_url }}",
    )
    backend = Backend.objects.create(name=f"bench-{messenger}", messenger=messenger, template=template)
    combos: list[tuple[Any, str]] = [
        (model, verb)
        for model in (Tag, Category, Comment, Invoice, Group)
        for verb in ("pre_save", "post_save", "pre_delete", "post_delete")
    ]
    combos += [
        (Item, "pre_delete"),
        (Item, "post_delete"),
        (None, "user_logged_in"),
        (None, "user_logged_out"),
        (None, "user_login_failed"),
    ]
    for i in range(others):
        model, verb = combos[i % len(combos)]
        ct = ContentType.objects.get_for_model(model) if model is not None else None
        conditions = [{"field": "name", "op": "eq", "value": f"v{i}"}] if model in (Tag, Category, Group) else []
        trigger = Trigger.objects.create(name=f"other-{i}", verb=verb, action_object_type=ct, conditions=conditions)
        sub = Subscription.objects.create(trigger=trigger)
        sub.backends.add(backend)
    info: dict[str, Any] = {"backend_id": backend.pk, "template_id": template.pk}
    if match_receivers is not None:
        trigger = Trigger.objects.create(
            name="item created", verb="post_save", action_object_type=ContentType.objects.get_for_model(Item)
        )
        sub = Subscription.objects.create(trigger=trigger)
        sub.backends.add(backend)
        ids = _users(match_receivers)
        through = Subscription.receiver_users.through
        through.objects.bulk_create([through(subscription_id=sub.pk, user_id=pk) for pk in ids], batch_size=2000)
        info.update(trigger_id=trigger.pk, subscription_id=sub.pk, receivers=len(ids))
    return info


def create(spec: Spec) -> dict[str, Any]:
    """``Item.objects.create()`` in autocommit, as a view without ATOMIC_REQUESTS does it."""
    from django.db.models.signals import post_save

    from benchmarks.benchapp.models import EventRow, Item

    _migrate()
    mode = spec["mode"]
    actor = _actor()
    extra: dict[str, Any] = {}
    if mode == "limit":

        def one_insert(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
            EventRow.objects.create(verb="post_save", object_id=instance.pk)

        post_save.connect(one_insert, sender=Item, weak=False)
    elif mode == "peer":
        from django.contrib.auth import get_user_model
        from notifications.signals import notify

        _users(spec["receivers"])
        recipients = get_user_model().objects.filter(is_staff=False)

        def notify_send(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
            notify.send(instance.owner, recipient=recipients, verb="created", action_object=instance)

        post_save.connect(notify_send, sender=Item, weak=False)
    elif mode == "dsn":
        from dsn_core import conf

        assert conf.get("AUTO_RELOAD") is False
        extra = _dsn_config(spec.get("others", 0), spec.get("receivers"))
    else:
        assert mode == "none"
        from django.apps import apps

        assert not apps.is_installed("dsn_core"), "the no-DSN scenario must not install dsn_core"

    def op() -> None:
        Item.objects.create(title="A new item", status="new", owner=actor)

    # Warm up: builds DSN's index on the first signal and fills Django's caches.
    for _ in range(spec.get("warmup", 30)):
        op()
    result: dict[str, Any] = {**extra, "estimate_ops": spec.get("estimate_ops", 20)}
    if mode == "dsn":
        from django.db.models import signals

        from dsn_core import index

        result["verbs_connected"] = sorted(index.current().by_verb)
        # How many of the signals Item.objects.create() sends have any receiver (DSN's or anyone's).
        result["item_save_signals_heard"] = sum(
            getattr(signals, name).has_listeners(Item) for name in ("pre_init", "post_init", "pre_save", "post_save")
        )
    _serve(op, result)
    if mode == "dsn":
        result["index_errors"] = index.stats["errors"]
    return result


def _serve(op: Callable[[], None], result: dict[str, Any]) -> None:
    """Run batches when the runner asks, so that every scenario's batches interleave.

    Protocol (JSON lines): the child says ``{"ready": seconds_per_op}``; the runner sends
    ``{"batch": n}`` (answered with wall and CPU seconds per op), ``{"queries": n}``
    (answered with queries per op and their SQL) and finally ``{"done": true}``.
    """
    out = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout = sys.stderr  # nothing else may write on the protocol channel
    count = result.pop("estimate_ops", 20)
    start = time.perf_counter()
    for _ in range(count):
        op()
    out.write(json.dumps({"ready": (time.perf_counter() - start) / count}) + "\n")
    walls: list[float] = []
    cpus: list[float] = []
    for line in sys.stdin:
        cmd = json.loads(line)
        if "batch" in cmd:
            n = cmd["batch"]
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                op()
            wall, cpu = (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n
            walls.append(wall)
            cpus.append(cpu)
            out.write(json.dumps({"wall": wall, "cpu": cpu}) + "\n")
        elif "queries" in cmd:
            per_op, sql = _queries(op, cmd["queries"])
            result.update(queries_per_op=per_op, sql=sql)
            out.write(json.dumps({"queries_per_op": per_op}) + "\n")
        else:
            break
    result.update(wall_samples=walls, cpu_samples=cpus)


# -- the worker side -----------------------------------------------------------------------


def _notifications(count: int) -> list[int]:
    """Fire ``count`` matching events; return their Notification ids (oldest first)."""
    from benchmarks.benchapp.models import Item
    from dsn_core.models import Notification

    actor = _actor()
    for i in range(count):
        Item.objects.create(title=f"Item {i}", owner=actor)
    return list(Notification.objects.order_by("pk").values_list("pk", flat=True))


def fanout_setup(spec: Spec) -> dict[str, Any]:
    _migrate()
    info = _dsn_config(0, spec["receivers"])
    ids = _notifications(spec["repeats"])
    return {"notifications": ids, **info}


def fanout_run(spec: Spec) -> dict[str, Any]:
    """Fan one notification out to every receiver; time and resident-memory growth."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from dsn_core.fanout import fan_out
    from dsn_core.models import Delivery, Notification

    ids = list(Notification.objects.filter(fanned_out_at__isnull=True).order_by("pk").values_list("pk", flat=True))
    times, created, cpus = [], [], []
    gc.collect()
    exact_peak = _reset_peak_rss()
    base = _rss_kib("VmRSS")
    peak_base = base if exact_peak else _rss_kib("VmHWM")
    queries = None
    for n, pk in enumerate(ids):
        capture = n == len(ids) - 1 and len(ids) > 1 and spec["receivers"] <= 20000
        start, cpu = time.perf_counter(), time.process_time()
        if capture:
            with CaptureQueriesContext(connection) as ctx:
                made = fan_out(pk)
            queries = len(ctx.captured_queries)
            reset_queries()
        else:
            made = fan_out(pk)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        created.append(made)
        if n == 0:
            peak = _rss_kib("VmHWM")
    return {
        # The run with query capture on is left out of the median (capture costs time).
        "seconds": statistics.median(times[:-1] if queries is not None else times),
        "times": times,
        "cpu_times": cpus,
        "first_run_s": times[0],
        "deliveries_per_run": created,
        "deliveries_total": Delivery.objects.count(),
        "rss_growth_mib": (peak - peak_base) / 1024,
        "rss_base_mib": base / 1024,
        "peak_reset": exact_peak,
        "queries": queries,
    }


def render(spec: Spec) -> dict[str, Any]:
    """Messages/s of :func:`dsn_core.sending.build_messages` (render per recipient), one core."""
    from dsn_core.builtins import LocmemMessenger, outbox
    from dsn_core.fanout import fan_out
    from dsn_core.models import Delivery
    from dsn_core.sending import build_messages, drain

    _migrate()
    info = _dsn_config(0, spec["receivers"])
    (nid,) = _notifications(1)
    fan_out(nid)
    deliveries = list(
        Delivery.objects.filter(notification_id=nid)
        .select_related("notification", "backend__template", "recipient")
        .order_by("pk")
    )
    messenger = LocmemMessenger()
    build_messages(deliveries[:50], messenger)  # compile and cache the template
    times, cpus = [], []
    for _ in range(spec["repeats"]):
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        messages = build_messages(deliveries, messenger)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    assert all(m.text.startswith("Hello ") for m in messages), messages[:1]
    seconds = statistics.median(times)
    # End to end for reference: claim, render, locmem "send", record each outcome.
    outbox.clear()
    start = time.perf_counter()
    totals = drain(info["backend_id"])
    drain_s = time.perf_counter() - start
    return {
        "messages": len(deliveries),
        "seconds": seconds,
        "times": times,
        "per_s": len(deliveries) / seconds,
        "cpu_per_s": len(deliveries) / statistics.median(cpus),
        "sample": messages[0].text,
        "drain_sent": totals["sent"],
        "drain_per_s": totals["sent"] / drain_s,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _self_signed(directory: str) -> tuple[str, str]:
    """A certificate for "localhost" (and its key), for the STARTTLS variant."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


def _bench_smtp_backend() -> type:
    from django.core.mail.backends.smtp import EmailBackend

    class Backend(EmailBackend):
        """Django's SMTP backend trusting the benchmark's own CA (``DSN_BENCH_CA``)."""

        @property
        def ssl_context(self) -> Any:
            import ssl

            return ssl.create_default_context(cafile=os.environ["DSN_BENCH_CA"])

    return Backend


def __getattr__(name: str) -> Any:  # the backend class is built lazily (Django must be set up)
    if name == "BenchSMTPBackend":
        return _bench_smtp_backend()
    raise AttributeError(name)


def _smtp_server(port: int, *tls: str) -> Any:
    import socket
    import subprocess

    server = subprocess.Popen([sys.executable, "-m", "benchmarks.smtp_server", str(port), *tls], stdout=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("aiosmtpd did not start") from None
            time.sleep(0.05)


def smtp(spec: Spec) -> dict[str, Any]:
    """The dsn_email messenger over one SMTP session vs one session per message, against
    aiosmtpd in its own process: plain loopback, and STARTTLS + AUTH (a real relay's setup)."""
    import tempfile

    from django.conf import settings
    from dsn_email.messenger import EmailMessenger

    from dsn_core.messengers import Message

    count = spec["messages"]
    messages = [
        Message(
            address=f"r{i}@example.com",
            subject=f"Item {i} was created",
            text=f"Hello r{i},\nA new item.\n",
            delivery_id=i,
        )
        for i in range(count)
    ]
    result: dict[str, Any] = {"messages": count, "messenger": "dsn_email EmailMessenger"}
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = _self_signed(tmp)
        os.environ["DSN_BENCH_CA"] = cert
        for variant, tls in (("plain", ()), ("starttls_auth", (cert, key))):
            port = _free_port()
            server = _smtp_server(port, *tls)
            options: dict[str, Any] = {"host": "127.0.0.1", "port": port, "timeout": 10}
            if tls:
                options.update(host="localhost", use_tls=True, username="dsn", password="bench-pass")
            settings.DSN = {
                **settings.DSN,
                "EMAIL": {
                    "CONNECTIONS": {"bench": {"BACKEND": "benchmarks.scenario.BenchSMTPBackend", "OPTIONS": options}}
                },
            }

            def send(batch: list[Message]) -> int:
                with EmailMessenger({"connection": "bench"}) as messenger:
                    return sum(1 for o in messenger.send_batch(batch) if not isinstance(o, Exception))

            def parallel(sessions: int) -> int:
                """What a worker can do for throughput: several sessions at once (one thread each)."""
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(sessions) as pool:
                    return sum(pool.map(send, [messages[i::sessions] for i in range(sessions)]))

            modes: dict[str, Callable[[], int]] = {
                "one_session": lambda: send(messages),
                "per_message": lambda: sum(send([m]) for m in messages),
                "two_sessions_parallel": lambda: parallel(2),
                "four_sessions_parallel": lambda: parallel(4),
            }
            times: dict[str, list[float]] = {name: [] for name in modes}
            try:
                for _ in range(spec["repeats"]):
                    for name, fn in modes.items():  # interleaved, so drift hits both alike
                        start = time.perf_counter()
                        sent = fn()
                        times[name].append(time.perf_counter() - start)
                        assert sent == count, (variant, name, sent)
            finally:
                server.terminate()
                out, _ = server.communicate(timeout=10)
            entry: dict[str, Any] = {"server_received": int((out or b"0").decode().strip() or 0)}
            for name, values in times.items():
                median = statistics.median(values)
                entry[name] = {"seconds": median, "times": values, "per_s": count / median}
            entry["ratio"] = entry["per_message"]["seconds"] / entry["one_session"]["seconds"]
            for name in ("two_sessions_parallel", "four_sessions_parallel"):
                entry[name]["vs_one_session"] = entry["one_session"]["seconds"] / entry[name]["seconds"]
            result[variant] = entry
    result["ratio"] = result["starttls_auth"]["ratio"]
    result["one_session"], result["per_message"] = result["plain"]["one_session"], result["plain"]["per_message"]
    return result


def _limited_locmem(batch_size: int) -> type:
    """The locmem messenger with the Telegram bot limit (30/s per bot), timestamps each send."""
    from dsn_core.builtins import LocmemMessenger
    from dsn_core.messengers import RateLimit

    class Limited(LocmemMessenger):
        key = "bench_limited"
        label = "Locmem limited to 30/s"
        rate_limits = (RateLimit(30, 1),)
        max_batch_size = batch_size
        sent_at: list[float] = []

        def send(self, message: Any) -> Any:
            Limited.sent_at.append(time.time())
            return super().send(message)

    return Limited


def ratelimit(spec: Spec) -> dict[str, Any]:
    """Throughput through the core's sending path and limiter (``drain``), and the busiest second."""
    from dsn_core import plugins
    from dsn_core.fanout import fan_out
    from dsn_core.models import Delivery

    _migrate()
    cls = _limited_locmem(spec["batch_size"])

    from dsn_core import hookimpl

    class BenchPlugin:
        @hookimpl
        def register_messengers(self, register: Callable[[type], None]) -> None:
            register(cls)

    plugins.add_plugin("benchmarks", BenchPlugin())
    info = _dsn_config(0, spec["messages"], messenger=cls.key)
    (nid,) = _notifications(1)
    fan_out(nid)
    start = time.time()
    totals = drain(info["backend_id"])
    elapsed = time.time() - start
    stamps = sorted(cls.sent_at)
    return {
        "messenger": f"locmem + RateLimit(30, 1), max_batch_size={spec['batch_size']}",
        "sent": totals["sent"],
        "pending_left": Delivery.objects.filter(status="pending").count(),
        "elapsed_s": elapsed,
        **_rate_stats(stamps, 30, 1.0),
    }


def telegram_rate(spec: Spec) -> dict[str, Any]:
    """dsn_telegram (real python-telegram-bot) through the core's drain and limiter, against a
    fake Bot API on 127.0.0.1; one private chat per receiver, so only the 30/s bot limit binds."""
    import threading

    from django.conf import settings

    from dsn_core.addresses import set_address
    from dsn_core.fanout import fan_out
    from dsn_core.models import Delivery
    from tests.fakes import FakeServer

    _migrate()
    token = "123456:BENCH-token"
    stamps: list[float] = []
    lock = threading.Lock()

    def send_message(req: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        with lock:
            stamps.append(time.time())
            number = len(stamps)
        chat = {"id": 1, "type": "private"}
        return 200, {}, {"ok": True, "result": {"message_id": number, "date": 1700000000, "chat": chat}}

    with FakeServer() as server:
        server.route("POST", rf"/bot{token}/sendMessage", send_message)
        settings.DSN = {**settings.DSN, "TELEGRAM": {"BOT_TOKEN": token, "API_BASE_URL": server.url}}
        info = _dsn_config(0, spec["messages"], messenger="telegram")
        from django.contrib.auth import get_user_model

        for user in get_user_model().objects.filter(username__startswith="r"):
            set_address(user, "telegram", str(10_000 + user.pk))
        from dsn_telegram.messenger import TelegramMessenger

        from dsn_core.messengers import Message

        with TelegramMessenger({}) as warm:  # imports and first-connection costs, not measured
            warm.send_batch([Message(address="1", subject="", text="warm-up", delivery_id=0)] * 3)
        stamps.clear()
        (nid,) = _notifications(1)
        fan_out(nid)
        start = time.time()
        totals = drain(info["backend_id"])
        elapsed = time.time() - start
    return {
        "messenger": "dsn_telegram (python-telegram-bot) against a fake Bot API, one chat per receiver",
        "sent": totals["sent"],
        "pending_left": Delivery.objects.filter(status="pending").count(),
        "elapsed_s": elapsed,
        **_rate_stats(sorted(stamps), 30, 1.0),
    }


def drain(backend_id: int) -> dict[str, int]:
    from dsn_core.sending import drain as core_drain

    return core_drain(backend_id)


def _rate_stats(stamps: list[float], limit: int, window: float) -> dict[str, Any]:
    """Sustained rate and the most messages found in any window of ``window`` seconds."""
    if len(stamps) < 2:
        return {"rate_per_s": 0.0, "max_in_window": len(stamps)}
    busiest, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - window:
            j += 1
        busiest = max(busiest, i - j + 1)
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    return {"rate_per_s": rate, "max_in_window": busiest, "limit": limit, "fraction_of_limit": rate / limit}


# -- one worker from save() to sent ---------------------------------------------------------


def _noio_plugin(dedup: bool) -> Any:
    """A plugin registering ``noio``: a messenger that does no I/O at all (accepts every message).

    ``dedup`` declares a provider that deduplicates (whole batches per call); without it the
    core hands over one message per call and records each at once (at most one repeat per crash).
    """
    from dsn_core import hookimpl
    from dsn_core.messengers import Messenger, SendResult

    class NoIO(Messenger):
        key = "noio"
        label = "No I/O (benchmarks)"
        max_batch_size = 100
        deduplicates = dedup
        send_timeout = 0  # no I/O: calls run inline, no deadline thread (like locmem)

        def addresses_for(self, users: Any) -> dict[Any, str]:
            return {u.pk: f"n{u.pk}" for u in users}

        def send_batch(self, messages: Any) -> list[Any]:
            return [SendResult() for _ in messages]

    class Plugin:
        @hookimpl
        def register_messengers(self, register: Callable[[type], None]) -> None:
            register(NoIO)

    return Plugin()


def _insert_and_mark_limit(backend_id: int, count: int) -> float:
    """Seconds to insert ``count`` delivery rows (fan-out's own multi-row INSERT) and mark them
    sent with one UPDATE: what the database needs for the same work, in the same run."""
    from dsn_core.fanout import insert_deliveries
    from dsn_core.models import Backend, Delivery, Notification

    notification = Notification.objects.create(trigger_name="limit", verb="limit", context={})
    backend = Backend.objects.get(pk=backend_id)
    rows = [(None, f"limit{i}", "pending", "") for i in range(count)]
    start = time.perf_counter()
    insert_deliveries(notification, None, backend, rows)
    Delivery.objects.filter(notification=notification).update(status="sent", sent_at=time_now())
    took = time.perf_counter() - start
    notification.delete()
    return took


def time_now() -> Any:
    from django.utils import timezone

    return timezone.now()


def _run_db_worker_until(done: Callable[[], bool], timeout: float = 600, worker_id: str = "bench") -> None:
    """django-tasks-db's own worker loop, in this process, until ``done()``."""
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not finish in time")
        worker.run()  # runs every ready task, then returns
        time.sleep(0.001)


class _Helpers:
    """``count`` more worker processes, started once (forked, each its own database connection)
    and kept running between timed runs, as a deployment's workers are: a run releases them
    with ``start()`` once its events are saved, and ``finish()`` waits until each has seen
    ``done()``. (Forking and connecting inside each timed run cost the two-worker runs 11-46 ms
    that one worker never paid.)"""

    def __init__(self, count: int, done: Callable[[], bool]) -> None:
        import multiprocessing

        from django.db import connections

        self.procs: list[Any] = []
        if count <= 0:
            return
        connections.close_all()  # each process opens its own
        context = multiprocessing.get_context("fork")
        self.barrier = context.Barrier(count + 1)
        self.quit = context.Event()
        self.procs = [
            context.Process(target=self._loop, args=(done, f"bench{n + 2}"), daemon=True) for n in range(count)
        ]
        for proc in self.procs:
            proc.start()

    def _loop(self, done: Callable[[], bool], worker_id: str) -> None:
        while True:
            self.barrier.wait()
            if self.quit.is_set():
                return
            _run_db_worker_until(done, worker_id=worker_id)
            self.barrier.wait()

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def start(self) -> None:
        if self.procs:
            self.barrier.wait(600)

    def finish(self) -> None:
        if self.procs:
            self.barrier.wait(600)

    def close(self) -> None:
        if not self.procs:
            return
        self.quit.set()
        self.barrier.wait(600)
        for proc in self.procs:
            proc.join(60)
            if proc.exitcode != 0:
                raise RuntimeError(f"a worker process failed (exit {proc.exitcode})")


def _cpu_seconds(pids: Iterable[int] = ()) -> tuple[float, float]:
    """(CPU seconds of this process, its waited-for children and the running processes
    ``pids``, busy CPU seconds of the whole machine from /proc/stat: every process, the
    database server included)."""
    import resource

    own = sum(
        getattr(resource.getrusage(who), field)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for field in ("ru_utime", "ru_stime")
    )
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            own += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    machine = 0.0
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        machine = (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        pass
    return own, machine


def _settle() -> None:
    """Between timed runs on PostgreSQL: vacuum what the last run wrote and deleted, as
    autovacuum soon would, so that it does not start inside the next run (on 2 cores it
    took one from the worker and the server, and runs of the same code varied by 40 %)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            tables = "dsn_core_delivery, dsn_core_notification, django_tasks_database_dbtaskresult"
            cursor.execute(f"VACUUM ANALYZE {tables}")


def worker(spec: Spec) -> dict[str, Any]:
    """Deliveries/s from ``save()`` to ``sent``: ``events`` saves matching one subscription of
    ``receivers`` users, then django-tasks-db's worker loop in this process (one worker) fans
    out and sends through a no-I/O messenger. Side by side: the database's own limit for the
    same rows, queries per batch, and a profile of where the time goes."""
    import cProfile
    import io
    import pstats

    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from benchmarks.benchapp.models import Item
    from dsn_core.models import Delivery, Notification
    from dsn_core.plugins import add_plugin

    _migrate()
    settings.DSN = {**settings.DSN, "FANOUT_DELAY": 0, "TASK_BACKEND": "default"}  # one fan-out task per event
    add_plugin("bench-noio", _noio_plugin(spec["dedup"]))
    info = _dsn_config(0, spec["receivers"], messenger="noio")
    actor = _actor()
    expected = spec["events"] * spec["receivers"]
    limit_s = _insert_and_mark_limit(info["backend_id"], expected)

    def done() -> bool:
        mine = Delivery.objects.filter(notification__trigger_name="item created")
        return (
            not Notification.objects.filter(fanned_out_at__isnull=True).exists()
            and not mine.exclude(status="sent").exists()
            and mine.count() == expected
        )

    workers = spec.get("workers", 1)
    # With several workers, one worker is timed too, alternated with them run by run (1, n, n,
    # 1, 1, n, ...) in this same process and database: their ratio is then taken pair by pair,
    # side by side, not across two scenarios minutes apart (checkpoints, other databases).
    compare = workers > 1
    runs: list[float] = []
    one_runs: list[float] = []
    cpu_own: list[float] = []
    cpu_machine: list[float] = []
    profile_text = ""
    queries_per_batch = None

    def timed(count: int, profiler: Any = None) -> tuple[float, float, float]:
        Delivery.objects.all().delete()
        Notification.objects.all().delete()
        _settle()
        gc.collect()
        own_before, machine_before = _cpu_seconds(helpers.pids())
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        for i in range(spec["events"]):
            Item.objects.create(title=f"Item {i}", owner=actor)
        if count > 1:
            helpers.start()
        _run_db_worker_until(done)
        if count > 1:
            helpers.finish()
        if profiler:
            profiler.disable()
        took = time.perf_counter() - start
        own_after, machine_after = _cpu_seconds(helpers.pids())
        return took, (own_after - own_before) / took, (machine_after - machine_before) / took

    helpers = _Helpers(workers - 1, done)
    # One warm-up run (templates compiled, plugin registry built, caches filled), the measured
    # runs, then (if asked) one more under cProfile, which is not counted in the timings.
    timed(workers)
    for run in range(spec["repeats"]):
        order = (1, workers) if run % 2 == 0 else (workers, 1)
        for count in order if compare else (workers,):
            took, own, machine = timed(count)
            if count == workers:
                runs.append(took)
                cpu_own.append(own)  # cores kept busy: this process and its workers, and the machine
                cpu_machine.append(machine)
            else:
                one_runs.append(took)
    if spec.get("profile"):
        profiler = cProfile.Profile()
        timed(workers, profiler)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(r"dsn_core|db_worker|benchmarks", 30)
        stats.sort_stats("tottime").print_stats(15)
        profile_text = out.getvalue()
    helpers.close()
    # Queries for one claimed batch (claim, render, send, record, announce), measured apart.
    from dsn_core.sending import claim, send_claimed

    Delivery.objects.filter(notification__trigger_name="item created").update(status="pending", claim="")
    with CaptureQueriesContext(connection) as ctx:
        batch = claim(info["backend_id"], None, 100)
        send_claimed(batch)
    queries_per_batch = len(ctx.captured_queries)
    seconds = statistics.median(runs)
    return {
        "deliveries": expected,
        "workers": spec.get("workers", 1),
        "dedup": spec["dedup"],
        "seconds": seconds,
        "times": runs,
        "per_s": expected / seconds,
        "limit_s": limit_s,
        "limit_per_s": expected / limit_s,
        "ratio_to_limit": limit_s / seconds,
        "queries_per_batch_of_100": queries_per_batch,
        # Cores busy during the unprofiled runs (of os.cpu_count()): what bounds adding workers.
        "cores": os.cpu_count(),
        "cores_busy_own": cpu_own,
        "cores_busy_machine": cpu_machine,
        # With several workers: one worker alternated with them, and the ratio of each pair.
        "one_worker_times": one_runs,
        "pair_ratios": [one / many for one, many in zip(one_runs, runs, strict=False)],
        "batch_queries": [f"{q['time']}s {_short_sql(q['sql'])}" for q in ctx.captured_queries],
        "profile": profile_text,
    }


KINDS: dict[str, Callable[[Spec], dict[str, Any]]] = {
    "create": create,
    "fanout_setup": fanout_setup,
    "fanout_run": fanout_run,
    "render": render,
    "smtp": smtp,
    "ratelimit": ratelimit,
    "telegram_rate": telegram_rate,
    "worker": worker,
}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    django.setup()
    from django import get_version

    result = KINDS[spec["kind"]](spec)
    result.update(
        spec=spec, settings=os.environ["DJANGO_SETTINGS_MODULE"], django=get_version(), python=sys.version.split()[0]
    )
    with open(argv[2], "w") as fh:
        json.dump(result, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
