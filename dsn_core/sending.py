"""Sending: claim due deliveries atomically, render per recipient, call the messenger,
record each outcome, and schedule retries with exponential backoff and full jitter.

Claims set ``status=sending``, a lease and a random claim token with one conditional
UPDATE, so two workers never send the same delivery; a worker that dies leaves a lease
that expires, and the next claim of any worker takes those deliveries back.

Every call to a messenger (``open``, ``send_batch``, ``close``) runs on a helper thread
with a deadline (:func:`send_timeout`): a provider that never answers costs one deadline,
not a worker. Messengers whose provider does not deduplicate (``deduplicates = False``)
get one message per call and each outcome is recorded before the next is handed over, so
a crash leaves at most one message "sent but not recorded".
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import threading
import time
import uuid
from collections import ChainMap
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import OperationalError, connection, connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone, translation

from . import conf
from .errors import (
    ConfigurationError,
    DeliveryError,
    MessengerNotInstalled,
    PermanentError,
    TemplateError,
    TransientError,
)
from .instances import from_rows as _instances
from .messengers import Message, Messenger, SendResult
from .models import Backend, Delivery, Notification
from .plugins import call_observers, get_messenger_class, hook
from .receivers import Event
from .redaction import redact
from .rendering import base_context, compiled, current_site, render

logger = logging.getLogger("dsn_core.sending")
S = Delivery.Status
CLAIMABLE = (S.PENDING, S.FAILED)
#: Every status a claim may take a delivery from (``sending``: once its lease ran out).
CLAIM_STATES = (*CLAIMABLE, S.SENDING)
#: Appended to the error of a delivery whose messenger is not installed: it waits, never dies.
WAITING = "waiting: sent once the plugin is back"


def backoff(
    attempt: int, *, base: float | None = None, cap: float | None = None, retry_after: float | None = None
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: full jitter, at least ``retry_after``."""
    base = float(conf.get("RETRY_BASE") if base is None else base)
    cap = float(conf.get("RETRY_CAP") if cap is None else cap)
    delay = random.uniform(0, min(cap, base * (2 ** max(attempt - 1, 0))))
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return delay


def retry_policy(backend: Backend | None, messenger_cls: type | None) -> dict[str, float]:
    """Base, cap, max attempts and the time budget (``for``, seconds): settings, then the
    messenger's ``retry_policy``, then the backend's ``retry_*`` options (a backend that sets
    ``retry_max_attempts`` gets exactly that many attempts, with no time budget)."""
    policy = {
        "base": float(conf.get("RETRY_BASE")),
        "cap": float(conf.get("RETRY_CAP")),
        "max_attempts": int(conf.get("MAX_ATTEMPTS")),
        "for": float(conf.get("RETRY_FOR") or 0),
    }
    if messenger_cls is not None:
        policy.update(messenger_cls.retry_policy)
    if backend is not None:
        for key in ("base", "cap", "max_attempts"):
            value = (backend.options or {}).get(f"retry_{key}")
            if value is not None:
                policy[key] = float(value)
        if (backend.options or {}).get("retry_max_attempts") is not None:
            policy["for"] = 0.0  # an admin who set this backend's attempts means them: no time budget
    return policy


def send_timeout(messenger_cls: type | None) -> float | None:
    """Seconds one call to this messenger may take: its ``send_timeout``, else
    ``DSN["SEND_TIMEOUT"]``; ``None`` when unbounded (the call then runs inline)."""
    value = getattr(messenger_cls, "send_timeout", None)
    if value is None:
        value = conf.get("SEND_TIMEOUT")
    return float(value) if value else None


def deduplicates(messenger_cls: type | None) -> bool:
    """Whether the messenger's provider honours ``Message.idempotency_key`` (a batch sent
    again after a crash then delivers nothing twice, so whole batches may be in flight)."""
    return bool(getattr(messenger_cls, "deduplicates", False))


def due_filter(now: datetime) -> Q:
    """Deliveries a worker may claim now: pending or failed and due, or ``sending`` under a
    lease that ran out (its worker died), so a lost worker costs one lease, not a sweep."""
    due = Q(status__in=CLAIMABLE) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    return due | Q(status=S.SENDING, lease_until__lt=now)


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (another process holds the write lock)."""
    return isinstance(exc, OperationalError) and "is locked" in str(exc).lower()


def retry_locked(fn: Callable[..., Any], *args: Any, tries: int = 10, **kwargs: Any) -> Any:
    """Call ``fn``, trying again (with growing, jittered pauses: about 10 s in all) while SQLite
    says the database is locked. Outside a transaction only (inside one, the error stands)."""
    pause = 0.01
    for attempt in range(tries):
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            if not is_locked(exc) or attempt == tries - 1 or connection.in_atomic_block:
                raise
            time.sleep(pause * (1 + random.random()))
            pause = min(pause * 2, 2.0)
    raise AssertionError("unreachable")


def claim(
    backend_id: int | None,
    notification_id: int | None,
    limit: int,
    exclude_backends: set[Any] | frozenset[Any] = frozenset(),
    loaded: dict[str, dict[Any, Any]] | None = None,
) -> list[Delivery]:
    """Atomically take up to ``limit`` due deliveries; return them with relations loaded.

    On PostgreSQL and SQLite >= 3.35 one claim is one statement (``UPDATE ... RETURNING``):
    the rows come back from the UPDATE that took them, not from a second read.

    ``loaded``: notifications, backends and recipients (users) already loaded by earlier claims
    of the same drain (filled in here), so consecutive batches do not load them again. Within
    one drain (which lasts at most about one lease) a user is therefore one object, read when
    the drain first met it. A locked SQLite database makes the claim wait and try again,
    never fail."""
    return retry_locked(_claim, backend_id, notification_id, limit, exclude_backends, loaded)


def _claim(
    backend_id: int | None,
    notification_id: int | None,
    limit: int,
    exclude_backends: set[Any] | frozenset[Any],
    loaded: dict[str, dict[Any, Any]] | None = None,
) -> list[Delivery]:
    now = timezone.now()
    token = uuid.uuid4().hex
    conn = connections[router.db_for_write(Delivery)]
    lease = now + timedelta(seconds=float(conf.get("LEASE_SECONDS")))
    shape: _Shape = (backend_id, notification_id, frozenset(exclude_backends), limit)
    if _returns_rows(conn):
        claimed = _claim_returning(conn, shape, token, lease, now)
    else:
        claimed = _claim_and_read(conn, _claimable(conn.alias, now, *shape[:3]), limit, token, lease, now)
    if claimed:
        _attach(claimed, loaded)
    return claimed


#: A claim's filters: backend, notification, backends left out, and how many rows at most.
_Shape = tuple[Any, Any, frozenset[Any], int]


def _claimable(using: str, now: datetime, backend_id: Any, notification_id: Any, exclude: Any) -> Any:
    """The deliveries a claim may take, lowest id first: what every claim statement is built from."""
    # The redundant status term lets PostgreSQL use the (status, next_attempt_at) index instead
    # of walking the primary key through every sent row (measured: 10-22 ms -> 1.6-4 ms per
    # claim of one backend with 19,000 sent rows).
    qs = Delivery.objects.using(using).filter(due_filter(now), status__in=CLAIM_STATES)
    if backend_id is not None:
        qs = qs.filter(backend_id=backend_id)
    if notification_id is not None:
        qs = qs.filter(notification_id=notification_id)
    if exclude:
        qs = qs.exclude(backend_id__in=exclude)
    return qs.order_by("pk")


def _returns_rows(conn: Any) -> bool:
    """Whether ``UPDATE ... RETURNING`` is available (PostgreSQL; SQLite from 3.35)."""
    return conn.vendor in ("postgresql", "sqlite") and bool(conn.features.can_return_rows_from_bulk_insert)


def _claim_returning(conn: Any, shape: _Shape, token: str, lease: datetime, now: datetime) -> list[Delivery]:
    """The claim as one statement that sets the claim and returns the rows it took.

    PostgreSQL: ``WHERE id = ANY(ARRAY(SELECT id ... LIMIT n FOR UPDATE SKIP LOCKED))``.
    ``ARRAY(...)`` is computed once, so at most ``n`` rows are taken (``id IN (SELECT ...)`` may
    be planned as a join that locks and takes more); rows other workers hold are skipped, not
    waited for. The due conditions are not repeated outside: ``FOR UPDATE`` checks them again
    on the newest version of each row it locks, and that lock keeps everyone else from
    changing the row until the UPDATE commits. Repeated, they cost more than the rest of the
    statement: the planner then scanned the table by those terms, not by the ids (measured
    with the statistics of a freshly filled table: 38-54 ms per claim of 100 against 10-18 ms).
    SQLite: ``WHERE id IN (SELECT ... LIMIT n)`` (one writer at a time: the statement is
    atomic by itself)."""
    _, fields, positions, converters, known = _claim_columns(conn)
    sql, params = _claim_statement(conn, shape, now)
    prepare = _NOW_FIELD.get_db_prep_value
    params[:4] = [str(S.SENDING), token, prepare(lease, conn), prepare(now, conn)]

    with conn.cursor() as cursor:  # a locked SQLite database: :func:`claim` tries the whole claim again
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return []
    rows.sort(key=lambda row: row[0])  # RETURNING keeps no order
    written = {"status": S.SENDING, "claim": token, "lease_until": lease, "updated_at": now}
    fixed = [written[name] for name in known]
    values = []
    for row in rows:
        row = list(row)
        for index, apply in converters:
            for convert, expression in apply:
                row[index] = convert(row[index], expression, conn)
        values.append([row[p] if p >= 0 else fixed[-p - 1] for p in positions])
    return _instances(Delivery, conn.alias, fields, values)


#: A timestamp column of Delivery: how a claim prepares its times for the database.
_NOW_FIELD = Delivery._meta.get_field("updated_at")
#: Claim statements by database and shape, with the parameters that hold "now" (see below).
_statements: dict[tuple[str, _Shape], tuple[str, list[Any], list[int]]] = {}


def _claim_statement(conn: Any, shape: _Shape, now: datetime) -> tuple[str, list[Any]]:
    """The claim's UPDATE and its parameters (the first four, the values it sets, left for the
    caller), the due terms compared with ``now``.

    Built by the ORM from :func:`_claimable` once per database and shape (a drain claims with
    one shape throughout), then reused with only ``now`` replaced: building and compiling the
    query cost about 1 ms per claim. Where ``now`` sits is found by building it twice with two
    different times; a statement whose other parts differ between the two is not reused."""
    key = (conn.alias, shape)
    cached = _statements.get(key)
    if cached is not None:
        sql, template, slots = cached
        params = list(template)
        value = _NOW_FIELD.get_db_prep_value(now, conn)
        for slot in slots:
            params[slot] = value
        return sql, params
    sql, params = _build_claim_statement(conn, shape, now)
    later = now + timedelta(microseconds=1)
    again, other = _build_claim_statement(conn, shape, later)
    slots = [i for i, (a, b) in enumerate(zip(params, other, strict=False)) if a != b]
    prepare = _NOW_FIELD.get_db_prep_value
    if (
        again == sql
        and len(params) == len(other)
        and slots
        and all(params[i] == prepare(now, conn) and other[i] == prepare(later, conn) for i in slots)
    ):
        if len(_statements) > 256:  # shapes come from backends and notifications: keep it bounded
            _statements.clear()
        _statements[key] = (sql, params, slots)
    return sql, list(params)


def _build_claim_statement(conn: Any, shape: _Shape, now: datetime) -> tuple[str, list[Any]]:
    ids = _claimable(conn.alias, now, *shape[:3]).values_list("pk")[: shape[3]]
    select_sql, select_params = ids.query.get_compiler(connection=conn).as_sql()
    quote = conn.ops.quote_name
    column = {name: quote(Delivery._meta.get_field(name).column) for name in (*_WRITTEN_BY_CLAIM, "attempts", "id")}
    if conn.vendor == "postgresql":
        select_sql = f"ARRAY({select_sql} {conn.ops.for_update_sql(skip_locked=True)})"
        where = f"{column['id']} = ANY({select_sql})"
    else:
        where = f"{column['id']} IN ({select_sql})"
    sql = (
        f"UPDATE {quote(Delivery._meta.db_table)} SET {column['status']} = %s, {column['claim']} = %s, "
        f"{column['lease_until']} = %s, {column['updated_at']} = %s, "
        f"{column['attempts']} = {column['attempts']} + 1 WHERE {where} RETURNING {_claim_columns(conn)[0]}"
    )
    return sql, [None, None, None, None, *select_params]


#: Delivery columns whose values a claim knows without reading them back.
_WRITTEN_BY_CLAIM = ("status", "claim", "lease_until", "updated_at")

_columns: dict[tuple[str, str], tuple[str, list[str], list[int], list[tuple[int, list[Any]]], tuple[str, ...]]] = {}


def _claim_columns(conn: Any) -> tuple[str, list[str], list[int], list[tuple[int, list[Any]]], tuple[str, ...]]:
    """For one connection: the RETURNING list (``id`` first, every column but those the claim
    wrote), every field's attname in model order, where each value comes from (``>= 0``: that
    returned column; ``-k - 1``: the k-th written value), the converters of the returned
    columns (timestamps on SQLite), and the written fields in the order of those values."""
    key = (conn.alias, conn.vendor)
    if key not in _columns:
        fields = [f for f in Delivery._meta.concrete_fields if f.attname not in _WRITTEN_BY_CLAIM]
        fields.sort(key=lambda f: not f.primary_key)
        table = Delivery._meta.db_table
        returned = ", ".join(conn.ops.quote_name(f.column) for f in fields)
        index = {f.attname: i for i, f in enumerate(fields)}
        positions = [
            index[f.attname] if f.attname in index else -_WRITTEN_BY_CLAIM.index(f.attname) - 1
            for f in Delivery._meta.concrete_fields
        ]
        converters = []
        for i, f in enumerate(fields):
            col = f.get_col(table)
            found = conn.ops.get_db_converters(col) + col.get_db_converters(conn)
            if found:
                converters.append((i, [(convert, col) for convert in found]))
        attnames = [f.attname for f in Delivery._meta.concrete_fields]
        _columns[key] = (returned, attnames, positions, converters, _WRITTEN_BY_CLAIM)
    return _columns[key]


def _claim_and_read(conn: Any, qs: Any, limit: int, token: str, lease: datetime, now: datetime) -> list[Delivery]:
    """The claim where ``UPDATE ... RETURNING`` is not available: take the rows (``qs``: the
    :func:`_claimable` query), then read them back by their claim token."""
    fields = dict(status=S.SENDING, claim=token, lease_until=lease, attempts=F("attempts") + 1, updated_at=now)
    model = Delivery.objects.using(conn.alias)
    if conn.vendor == "sqlite":
        # One statement, atomic by itself (UPDATE ... WHERE id IN (SELECT id ... LIMIT n)):
        # one write lock and one commit per claim.
        if not model.filter(pk__in=qs.values("pk")[:limit]).update(**fields):
            return []
    else:
        with transaction.atomic(using=conn.alias):
            if conn.features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True)
            ids = list(qs.values_list("pk", flat=True)[:limit])
            if not ids:
                return []
            model.filter(due_filter(now), pk__in=ids).update(**fields)
    # The columns the claim itself just wrote are not read back (parsing two timestamps per row
    # was a tenth of loading a batch on SQLite): they are set from the values written.
    claimed = list(model.filter(claim=token, status=S.SENDING).defer(*_WRITTEN_BY_CLAIM).order_by("pk"))
    for delivery in claimed:
        state = delivery.__dict__
        state["status"], state["claim"], state["lease_until"], state["updated_at"] = S.SENDING, token, lease, now
    return claimed


def _attach(deliveries: list[Delivery], loaded: dict[str, dict[Any, Any]] | None = None) -> None:
    """Load each distinct notification, backend (with its template) and recipient of a batch
    once, not once per row: a batch usually has one notification and one backend, and a
    notification holds its whole context. With ``loaded`` (one drain's), what an earlier batch
    loaded is reused, not read again: within a drain a user is the same object throughout."""
    loaded = {} if loaded is None else loaded
    notifications = loaded.setdefault("notifications", {})
    backends = loaded.setdefault("backends", {})
    users = loaded.setdefault("users", {})
    wanted = {d.notification_id for d in deliveries} - notifications.keys()
    if wanted:
        notifications.update(Notification.objects.in_bulk(wanted))
        if wanted - notifications.keys():
            deliveries[:] = _drop_orphans(deliveries, wanted - notifications.keys(), notifications)
    wanted = {d.backend_id for d in deliveries if d.backend_id is not None} - backends.keys()
    if wanted:
        found = Backend.objects.select_related("template").in_bulk(wanted)
        backends.update({pk: found.get(pk) for pk in wanted})  # a deleted backend stays None
    wanted = {d.recipient_id for d in deliveries if d.recipient_id is not None} - users.keys()
    if wanted:
        users.update(dict.fromkeys(wanted))  # a user deleted meanwhile stays None
        users.update(_load_users(wanted))
    stamp = time.monotonic()
    # Filling the relation caches directly: the descriptors' checks cost more than the rest here.
    cache_notification = _NOTIFICATION.set_cached_value
    cache_backend = _BACKEND.set_cached_value
    cache_recipient = _RECIPIENT.set_cached_value
    for delivery in deliveries:
        cache_notification(delivery, notifications[delivery.notification_id])
        if delivery.backend_id is not None:
            backend = backends.get(delivery.backend_id)
            if backend is None:
                delivery.backend = None
            else:
                cache_backend(delivery, backend)
        if delivery.recipient_id is not None:
            cache_recipient(delivery, users.get(delivery.recipient_id))
        delivery._dsn_claimed_at = stamp  # type: ignore[attr-defined]


def _drop_orphans(deliveries: list[Delivery], missing: set[Any], notifications: dict[Any, Any]) -> list[Delivery]:
    """The deliveries whose notification exists (read again where writes go, into
    ``notifications``); the others are deleted.

    A delivery's notification has no database constraint (see ``Delivery``): raw SQL, or a
    deletion racing a fan-out, can leave deliveries naming a deleted notification. Deleting
    them is the cascade Django would have done; keeping them would fail every claim.
    """
    notifications.update(Notification.objects.using(router.db_for_write(Notification)).in_bulk(missing))
    gone = missing - notifications.keys()
    if gone:
        logger.warning("DSN deleted the deliveries of deleted notification(s) %s", sorted(gone))
        Delivery.objects.filter(notification_id__in=gone).delete()
    return [d for d in deliveries if d.notification_id not in gone]


_NOTIFICATION = Delivery._meta.get_field("notification")
_BACKEND = Delivery._meta.get_field("backend")
_RECIPIENT = Delivery._meta.get_field("recipient")


def _load_users(pks: set[Any]) -> dict[Any, Any]:
    """The users with these primary keys (one query; what the recipient relation would load)."""
    model = _RECIPIENT.related_model
    attnames = [f.attname for f in model._meta.concrete_fields]
    qs = model._base_manager.filter(pk__in=pks).values_list(*attnames)  # converted, not yet built
    found = _instances(model, qs.db, attnames, list(qs))
    return {user.pk: user for user in found}


def _language(user: Any, attribute: str) -> str | None:
    if not attribute or user is None:
        return None
    return getattr(user, attribute, None) or None


def build_messages(deliveries: Sequence[Delivery], messenger: Messenger) -> list[Message | DeliveryError]:
    """Render one message per delivery (a ``DeliveryError`` where rendering fails).

    The second delivery of a notification in the batch (per template, language and escape)
    prepares its template: what does not depend on the recipient is rendered once
    (:func:`~dsn_core.rendering.prepare`), the rest per recipient. A template in which
    preparing found nothing to render ahead is not prepared again in this batch.
    """
    from .rendering import prepare
    from .unsubscribe import unsubscribe_url, url_pattern

    site = current_site()
    pattern = url_pattern()
    shared: dict[int, dict[str, Any]] = {}  # one context per notification, shared by its recipients
    escape = messenger.escape if messenger.escape_values else None
    language_attribute = conf.get("USER_LANGUAGE_ATTRIBUTE")
    # (notification, template, language, escape) -> the template to render: as compiled for the
    # first recipient, then prepared; ids stay valid, the values hold the templates.
    prepared: dict[tuple[Any, ...], Any] = {}
    fruitless: set[int] = set()  # templates whose preparing rendered nothing ahead
    out: list[Message | DeliveryError] = []
    for delivery in deliveries:
        notification: Notification = delivery.notification
        backend = delivery.backend
        try:
            if backend is None:
                raise PermanentError("backend was deleted")
            template = compiled(backend.template)
            base = shared.get(notification.pk)
            if base is None:
                event = Event.from_context(notification.context)
                base = shared[notification.pk] = base_context(event, notification, site)
            wanted = messenger.wants_unsubscribe_url or template.mentions_unsubscribe
            url = unsubscribe_url(delivery, pattern) if wanted and delivery.recipient_id else ""
            # The names here are rendering.PER_RECIPIENT (a test holds them equal).
            own = {"recipient": delivery.recipient, "address": delivery.address, "unsubscribe_url": url}
            context = ChainMap(own, base)
            language = _language(delivery.recipient, language_attribute)
            key = (notification.pk, id(template), language, escape)
            with translation.override(language) if language else contextlib.nullcontext():
                ready = prepared.get(key)
                if ready is None:
                    prepared[key] = template
                elif ready is template and id(template) not in fruitless:
                    ready = prepared[key] = prepare(template, base, escape)
                    if ready is template:
                        fruitless.add(id(template))
                    template = ready
                else:
                    template = ready
                subject, text, html = render(template, context, escape)
            out.append(
                Message(
                    address=delivery.address,
                    subject=subject,
                    text=text,
                    html=html,
                    recipient=delivery.recipient,
                    delivery_id=delivery.pk,
                    unsubscribe_url=url,
                    metadata={"notification": notification.pk, "verb": notification.verb},
                )
            )
        except TemplateError as exc:
            out.append(PermanentError(f"template error: {exc}"))
        except DeliveryError as exc:
            out.append(exc)
    return out


def _renew_lease(batch: list[tuple[Delivery, Message]]) -> list[tuple[Delivery, Message]]:
    """Extend the lease of the rows we still hold, right before sending them; drop the rest.

    A worker that stalled (stopped, swapped out) longer than its lease must not send rows
    another worker has taken meanwhile: the message would go out twice.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=float(conf.get("LEASE_SECONDS")))
    claims = {d.claim for d, _ in batch}
    pks = [d.pk for d, _ in batch]
    renewed = retry_locked(
        Delivery.objects.filter(pk__in=pks, claim__in=claims, status=S.SENDING).update, lease_until=lease
    )
    if renewed == len(batch):
        return batch
    held = set(Delivery.objects.filter(pk__in=pks, claim__in=claims, status=S.SENDING).values_list("pk", flat=True))
    for delivery, _ in batch:
        if delivery.pk not in held:
            logger.warning("DSN lost the claim on delivery %s before sending it; not sending", delivery.pk)
    return [(d, m) for d, m in batch if d.pk in held]


class _Heartbeat:
    """One daemon thread per process that keeps extending the leases of in-flight batches.

    While a batch is being sent its rows stay claimed; without this, a batch slower than
    ``LEASE_SECONDS`` would be taken back by another worker while still being sent, and its
    messages would go out twice. A row stops being renewed once its outcome is recorded
    (it is no longer ``sending``), and a provider call never outlives its deadline, so a
    hung provider cannot keep rows leased for ever. Registering a batch costs a lock.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batches: dict[int, tuple[list[int], set[str], float]] = {}
        self.thread: threading.Thread | None = None
        self.pid = 0

    def _ensure_thread(self) -> None:
        if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():
            self.pid = os.getpid()
            self.thread = threading.Thread(target=self._run, name="dsn-lease-heartbeat", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        from django.db import connection as thread_connection

        while True:
            lease = float(conf.get("LEASE_SECONDS"))
            time.sleep(max(0.05, min(1.0, lease / 6)))
            now = time.monotonic()
            with self.lock:
                due = [
                    (key, pks, claims) for key, (pks, claims, since) in self.batches.items() if now - since >= lease / 3
                ]
            for key, pks, claims in due:
                try:
                    until = timezone.now() + timedelta(seconds=lease)
                    Delivery.objects.filter(pk__in=pks, claim__in=claims, status=S.SENDING).update(lease_until=until)
                except Exception:
                    logger.exception("DSN could not extend a lease")
                    thread_connection.close()
                with self.lock:
                    if key in self.batches:
                        self.batches[key] = (pks, claims, now)

    @contextlib.contextmanager
    def covering(self, deliveries: Sequence[Delivery]) -> Iterator[None]:
        key = id(deliveries)
        with self.lock:
            self.batches[key] = ([d.pk for d in deliveries], {d.claim for d in deliveries}, time.monotonic())
            self._ensure_thread()
        try:
            yield
        finally:
            with self.lock:
                self.batches.pop(key, None)


_heartbeat = _Heartbeat()


class CallTimedOut(Exception):
    """A messenger call passed its deadline; the worker stopped waiting for it."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


class _CallThread:
    """A daemon thread that runs one messenger's calls, so the worker can stop waiting.

    It uses the caller's database connections (the caller waits meanwhile), so a messenger
    that touches the ORM sees the same transaction. A call past its deadline is abandoned
    with its thread; being a daemon, a thread stuck for ever never blocks the process's exit.
    """

    def __init__(self) -> None:
        self.shared = list(connections.all())
        for conn in self.shared:
            conn.inc_thread_sharing()
        self.calls: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self.thread = threading.Thread(target=self._run, name="dsn-send", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for conn in self.shared:
            connections[conn.alias] = conn
        while (item := self.calls.get()) is not None:
            future, fn, args = item
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        future: Future[Any] = Future()
        self.calls.put((future, fn, args))
        try:
            return future.result(timeout)
        except TimeoutError:
            if future.done():  # the messenger itself raised TimeoutError
                raise
            raise CallTimedOut(timeout) from None

    def stop(self, *, abandoned: bool = False) -> None:
        self.calls.put(None)
        if not abandoned:
            self.thread.join()
            for conn in self.shared:
                conn.dec_thread_sharing()


def open_error(key: str, exc: BaseException) -> DeliveryError:
    """The outcome, for each message of a batch, of a messenger whose ``open()`` raised.

    Settings problems (``ConfigurationError``, ``ImproperlyConfigured``, ``ValidationError``)
    are configuration errors: they name what to set and are never called temporary.
    """
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, ValidationError):
        return ConfigurationError(f"{key} is not configured: {'; '.join(exc.messages)}")
    if isinstance(exc, ImproperlyConfigured):
        return ConfigurationError(f"{key} is not configured: {exc}")
    return TransientError(f"{type(exc).__name__}: {exc}")


class Sender:
    """One backend's messenger, opened once and reused across batches. Every call to it
    (``open``, ``send_batch``, ``close``) has a deadline; a call past it is abandoned with the
    messenger instance (a fresh one is opened for the next batch)."""

    def __init__(self, cls: type[Messenger], backend: Backend | None) -> None:
        self.cls = cls
        self.backend = backend
        self.key = cls.key
        self.timeout = send_timeout(cls)
        self.messenger: Messenger | None = None
        self.thread: _CallThread | None = None

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if not self.timeout:
            return fn(*args)
        if self.thread is None:
            self.thread = _CallThread()
        try:
            return self.thread.call(fn, args, self.timeout)
        except CallTimedOut:
            logger.error("DSN messenger %s did not answer within %g s; the call is abandoned", self.key, self.timeout)
            self.thread.stop(abandoned=True)
            self.thread, self.messenger = None, None
            raise

    def ready(self) -> DeliveryError | None:
        """Open the messenger unless it is open; on failure, the outcome for every message."""
        if self.messenger is not None:
            return None
        try:
            messenger = self.cls(self.backend.options if self.backend is not None else {})
        except Exception as exc:
            return ConfigurationError(f"bad options for {self.key}: {exc}")
        try:
            self._call(messenger.open)
        except CallTimedOut as exc:
            return TransientError(f"{self.key}: opening the connection took longer than {exc.seconds:g} s")
        except Exception as exc:
            error = open_error(self.key, exc)
            if not isinstance(error, ConfigurationError):
                logger.warning("DSN messenger %s failed to open: %s", self.key, redact(str(error)))
            return error
        self.messenger = messenger
        return None

    def send(self, messages: list[Message]) -> Any:
        assert self.messenger is not None
        return self._call(self.messenger.send_batch, messages)

    def close(self) -> None:
        messenger, self.messenger = self.messenger, None
        if messenger is not None:
            try:
                self._call(messenger.close)
            except Exception:
                logger.exception("DSN messenger %s failed to close", self.key)
        if self.thread is not None:
            self.thread.stop()
            self.thread = None


def send_claimed(
    deliveries: list[Delivery],
    senders: dict[Any, Sender] | None = None,
    missing: set[Any] | None = None,
) -> dict[str, int]:
    """Send deliveries already claimed; record every outcome.

    ``senders``: messengers already opened, by backend id (``drain`` keeps them open across
    batches, so connections and event loops are set up once); by default each backend of
    these deliveries gets its own, closed on return. Deliveries of several backends are
    sent each with its own backend's messenger and options. Backends whose messenger is not
    installed are added to ``missing`` (their deliveries wait; see :func:`_wait_for_plugin`).

    Returns counts by outcome: ``sent``, ``failed``, ``dead``, and ``lost`` (rows whose
    claim expired and went to another worker, so they were not sent here).
    """
    counts = {"sent": 0, "failed": 0, "dead": 0, "lost": 0}
    if not deliveries:
        return counts
    own = senders is None
    senders = {} if senders is None else senders
    groups: dict[Any, list[Delivery]] = {}
    for delivery in deliveries:
        groups.setdefault(delivery.backend_id, []).append(delivery)
    try:
        with _heartbeat.covering(deliveries):
            for group in groups.values():
                _send_group(group, senders, counts, set() if missing is None else missing)
    finally:
        if own:
            for sender in senders.values():
                sender.close()
    return counts


def _send_group(
    deliveries: list[Delivery],
    senders: dict[Any, Sender],
    counts: dict[str, int],
    missing: set[Any],
) -> None:
    """Send the claimed deliveries of one backend."""
    backend = deliveries[0].backend
    key = deliveries[0].messenger
    cls = get_messenger_class(key)
    policy = retry_policy(backend, cls)
    if backend is None:
        _record_each(deliveries, PermanentError("backend was deleted"), policy, counts)
        return
    if cls is None:
        _wait_for_plugin(deliveries, key, counts)
        missing.add(deliveries[0].backend_id)
        return
    sender = senders.get(deliveries[0].backend_id)
    if sender is None or sender.cls is not cls:
        sender = senders[deliveries[0].backend_id] = Sender(cls, backend)
    problem = sender.ready()
    if problem is not None:
        _record_each(deliveries, problem, policy, counts)
        return
    assert sender.messenger is not None
    deliveries = _resolve_placeholders(deliveries, sender.messenger)
    if not deliveries:
        return
    prepared = build_messages(deliveries, sender.messenger)
    to_send = [(d, m) for d, m in zip(deliveries, prepared, strict=True) if isinstance(m, Message)]
    for delivery, item in zip(deliveries, prepared, strict=True):
        if isinstance(item, DeliveryError):
            counts[_record(delivery, item, policy)] += 1
    if not to_send:
        return
    from .ratelimit import wait_for_turn

    # A rate-limited messenger gets one message per call, each right after its slot comes:
    # waiting for a whole batch's slots and then sending it at once would burst past the limit.
    # A provider that does not deduplicate gets one message per call too, each recorded before
    # the next is handed over: a crash then leaves at most one message sent but not recorded.
    limited = any(sender.messenger.rate_limits_for(m.address) for _, m in to_send)
    step = 1 if limited or not deduplicates(cls) else max(1, cls.max_batch_size)
    lease = float(conf.get("LEASE_SECONDS"))
    # Right after the claim its lease is fresh: the first check comes a third of a lease later.
    checked = min(getattr(d, "_dsn_claimed_at", -lease) for d, _ in to_send)
    for start in range(0, len(to_send), step):
        chunk = to_send[start : start + step]
        if time.monotonic() - checked >= lease / 3:
            batch = _renew_lease(chunk)
            checked = time.monotonic()
            counts["lost"] += len(chunk) - len(batch)
            if not batch:
                continue
        else:
            batch = chunk
        problem = sender.ready()  # a fresh messenger after a call that timed out
        if problem is not None:
            rest = [d for d, _ in batch] + [d for d, _ in to_send[start + step :]]
            _record_each(rest, problem, policy, counts)
            return
        if limited:
            wait_for_turn(sender.messenger, batch[0][1].address)
        outcomes = _call_provider(sender, [m for _, m in batch])
        for bucket in _record_batch([d for d, _ in batch], outcomes, policy):
            counts[bucket] += 1


def _call_provider(sender: Sender, messages: list[Message]) -> Sequence[Any]:
    """One ``send_batch`` call, bounded by its deadline; one outcome per message, always."""
    key = sender.key
    try:
        outcomes = sender.send(messages)
        if len(outcomes) != len(messages):
            raise TransientError(f"{key} returned {len(outcomes)} outcomes for {len(messages)} messages")
        return outcomes
    except CallTimedOut as exc:
        error = TransientError(
            f"{key}: no answer within {exc.seconds:g} s (DSN's deadline for one provider call; "
            f"the messenger's own timeout, if any, should be shorter)"
        )
        return [error] * len(messages)
    except DeliveryError as exc:
        return [exc] * len(messages)
    except Exception as exc:
        logger.exception("DSN messenger %s failed a whole batch", key)
        return [TransientError(f"{type(exc).__name__}: {exc}")] * len(messages)


def _wait_for_plugin(deliveries: list[Delivery], key: str, counts: dict[str, int]) -> None:
    """Park the deliveries of a backend whose messenger is not installed: ``failed`` with the
    reason, no attempt counted, no time set (they never die of it). Every other due delivery of
    that backend is parked with the same single UPDATE; the sweeper enqueues their sender once
    the messenger is installed again."""
    from . import signals

    now = timezone.now()
    error = (
        f"messenger {key!r} not installed (its plugin is missing, failed to load, or is in "
        f"DSN['BLOCK_PLUGINS']); {WAITING}"
    )
    parked = dict(status=S.FAILED, next_attempt_at=None, last_error=error, lease_until=None, claim="", updated_at=now)
    claims = {d.claim for d in deliveries}
    pks = [d.pk for d in deliveries]
    Delivery.objects.filter(pk__in=pks, claim__in=claims, status=S.SENDING).update(attempts=F("attempts") - 1, **parked)
    backend_id = deliveries[0].backend_id
    if backend_id is not None:
        Delivery.objects.filter(due_filter(now), backend_id=backend_id).exclude(
            status=S.FAILED, next_attempt_at__isnull=True
        ).update(**parked)
    logger.warning("DSN messenger %r is not installed: %s deliveries wait for it", key, len(deliveries))
    for delivery in deliveries:
        delivery.status, delivery.next_attempt_at, delivery.last_error = S.FAILED, None, error
        delivery.attempts -= 1
        call_observers("delivery_finished", delivery=delivery, status=S.FAILED, error=error)
        signals.delivery_finished.send(Delivery, delivery=delivery, status=S.FAILED, error=error)
    counts["failed"] += len(deliveries)


def _record_each(
    deliveries: Sequence[Delivery], outcome: Any, policy: dict[str, float], counts: dict[str, int]
) -> None:
    for delivery in deliveries:
        counts[_record(delivery, outcome, policy)] += 1


def _resolve_placeholders(deliveries: list[Delivery], messenger: Messenger) -> list[Delivery]:
    """Look up addresses that fan-out could not (the messenger was missing then)."""
    from django.db import IntegrityError

    from .fanout import NO_ADDRESS, PLACEHOLDER

    ready: list[Delivery] = []
    for delivery in deliveries:
        if not (delivery.address.startswith(PLACEHOLDER) and delivery.recipient is not None):
            ready.append(delivery)
            continue
        address = messenger.addresses_for([delivery.recipient]).get(delivery.recipient.pk)
        mine = Delivery.objects.filter(pk=delivery.pk, claim=delivery.claim, status=S.SENDING)
        if not address:
            mine.update(status=S.SKIPPED, last_error=NO_ADDRESS, claim="", lease_until=None)
            continue
        try:
            with transaction.atomic():
                mine.update(address=address)
        except IntegrityError:  # the same address already has a delivery for this notification
            mine.update(status=S.SKIPPED, last_error="duplicate address", claim="", lease_until=None)
            continue
        delivery.address = address
        ready.append(delivery)
    return ready


def _listened(name: str) -> bool:
    """Whether a plugin implements the observer hook ``name`` or a receiver listens to the
    Django signal of the same name (checked once per batch: announcing to nobody costs nothing)."""
    from . import signals

    if getattr(signals, name).has_listeners(Delivery):
        return True
    try:
        return bool(getattr(hook(), name).get_hookimpls())
    except Exception:  # no registry yet: call the hook as before, it copes
        return True


def _announce(delivery: Delivery, status: str, error: str, listened: tuple[bool, bool] | None = None) -> None:
    """Tell plugin hooks and Django signal receivers about a recorded outcome.

    ``listened``: whether anyone listens to ``delivery_finished`` and ``delivery_dead``
    (:func:`_listened`), when the caller already knows for its batch."""
    from . import signals

    finished, dead = listened or (_listened("delivery_finished"), status == S.DEAD and _listened("delivery_dead"))
    if finished:
        call_observers("delivery_finished", delivery=delivery, status=status, error=error)
        signals.delivery_finished.send(Delivery, delivery=delivery, status=status, error=error)
    if status == S.DEAD and dead:
        call_observers("delivery_dead", delivery=delivery)
        signals.delivery_dead.send(Delivery, delivery=delivery)


def _record_batch(deliveries: list[Delivery], outcomes: Sequence[Any], policy: dict[str, float]) -> list[str]:
    """Record a batch's outcomes: plain successes with one UPDATE, the rest one by one."""
    pairs = list(zip(deliveries, outcomes, strict=True))
    simple = [isinstance(o, SendResult) and not o.new_address for _, o in pairs]
    plain = [pair for pair, ok in zip(pairs, simple, strict=True) if ok]
    buckets = [_record(d, o, policy) for (d, o), ok in zip(pairs, simple, strict=True) if not ok]
    if not plain:
        return buckets
    now = timezone.now()
    by_claim: dict[str, list[tuple[Delivery, SendResult]]] = {}
    for delivery, outcome in plain:
        by_claim.setdefault(delivery.claim, []).append((delivery, outcome))
    listened = (_listened("delivery_finished"), False)
    for group in by_claim.values():
        buckets.extend("sent" for _ in group)
        _record_sent(group, now, listened)
    return buckets


def _record_sent(group: list[tuple[Delivery, SendResult]], now: datetime, listened: tuple[bool, bool]) -> None:
    """Mark deliveries of one claim ``sent`` at ``now`` (one UPDATE), then announce them."""
    conn = connections[router.db_for_write(Delivery)]
    stamp = _NOW_FIELD.get_db_prep_value(now, conn)
    claim_token = group[0][0].claim
    pks = [d.pk for d, _ in group]
    ids = [(d.pk, o.provider_id[:255]) for d, o in group]
    with_ids = any(v for _, v in ids)
    sql = _sent_statement(conn, len(pks), with_ids)
    params = [S.SENT, *(x for pair in ids for x in pair)] if with_ids else [S.SENT]
    params += [stamp, stamp, *pks, claim_token]
    with conn.cursor() as cursor:
        retry_locked(cursor.execute, sql, params)
        updated = cursor.rowcount
    if updated == len(pks):
        recorded = set(pks)
    else:  # another worker took some of them meanwhile: ours are the ones sent at ``now``
        recorded = set(Delivery.objects.filter(pk__in=pks, status=S.SENT, sent_at=now).values_list("pk", flat=True))
    for delivery, outcome in group:
        if delivery.pk not in recorded:
            logger.warning("DSN lost the claim on delivery %s before recording it", delivery.pk)
            continue
        delivery.status, delivery.provider_id, delivery.sent_at = S.SENT, outcome.provider_id[:255], now
        delivery.last_error, delivery.lease_until, delivery.claim, delivery.updated_at = "", None, "", now
        _announce(delivery, S.SENT, "", listened)


def _sent_statement(conn: Any, rows: int, provider_ids: bool) -> str:
    """The UPDATE recording ``rows`` deliveries ``sent`` where their claim is still ours, for
    the database ``conn``: built once per database and shape (one message per call records
    thousands of them; the ORM built each again, CASE and all, in two thirds of its time).

    Parameters: ``sent``; with ``provider_ids``, a (pk, provider id) pair per row; the time
    twice; the rows' pks; the claim token. Rows without an id in the pairs get ``''``."""
    key = (conn.alias, conn.vendor, rows, provider_ids)
    sql = _sent_statements.get(key)
    if sql is None:
        quote = conn.ops.quote_name
        column = {
            name: quote(Delivery._meta.get_field(name).column)
            for name in ("status", "provider_id", "sent_at", "last_error", "lease_until", "claim", "updated_at", "id")
        }
        ids = "''"
        if provider_ids:
            ids = f"CASE {column['id']}{' WHEN %s THEN %s' * rows} ELSE '' END"
        pks = ", ".join(["%s"] * rows)
        sql = (
            f"UPDATE {quote(Delivery._meta.db_table)} SET {column['status']} = %s, {column['provider_id']} = {ids}, "
            f"{column['sent_at']} = %s, {column['last_error']} = '', {column['lease_until']} = NULL, "
            f"{column['claim']} = '', {column['updated_at']} = %s "
            f"WHERE {column['id']} IN ({pks}) AND {column['claim']} = %s AND {column['status']} = '{S.SENDING}'"
        )
        if len(_sent_statements) > 512:  # shapes come from batch sizes: keep it bounded
            _sent_statements.clear()
        _sent_statements[key] = sql
    return sql


_sent_statements: dict[tuple[str, str, int, bool], str] = {}


def _age(delivery: Delivery, now: datetime) -> float:
    created = delivery.created_at or now
    return max(0.0, (now - created).total_seconds())


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 90:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def outcome_fields(
    delivery: Delivery, outcome: Any, policy: dict[str, float], now: datetime
) -> tuple[dict[str, Any], str, bool]:
    """What to store for one outcome: ``(fields, bucket, refund)``; ``refund`` gives the
    claim's attempt back (the provider only asked us to slow down, or the plugin is missing).

    A retryable error is given up (``dead``) only once both budgets are spent: ``max_attempts``
    attempts *and* ``for`` seconds since the delivery was created (``DSN["RETRY_FOR"]``); a
    provider that only ever said "slow down" ends it once the time budget is spent.
    """
    if isinstance(outcome, SendResult):
        fields: dict[str, Any] = dict(status=S.SENT, provider_id=outcome.provider_id[:255], sent_at=now, last_error="")
        if outcome.new_address:
            fields["address"] = outcome.new_address
        return fields, "sent", False
    if isinstance(outcome, MessengerNotInstalled):
        # Waits for the plugin, however long: ``next_attempt_at`` empty marks it for the sweeper,
        # which enqueues its sender once the messenger is installed again.
        error = f"{outcome}; {WAITING}"
        return dict(status=S.FAILED, next_attempt_at=None, last_error=error), "failed", True
    if isinstance(outcome, DeliveryError) and outcome.retryable:
        throttled = outcome.retry_after is not None  # "slow down" (429, Retry-After): not a failed attempt
        counted = delivery.attempts - (1 if throttled else 0)
        reason = str(outcome)
        if isinstance(outcome, ConfigurationError) and not reason.startswith("configuration error"):
            reason = f"configuration error: {reason}"
        age = _age(delivery, now)
        budget = policy.get("for", 0.0)
        # A provider still only saying "slow down" once the time budget is spent ends it too.
        if age < budget or (counted < policy["max_attempts"] and not (throttled and budget)):
            delay = backoff(max(counted, 1), base=policy["base"], cap=policy["cap"], retry_after=outcome.retry_after)
            fields = dict(status=S.FAILED, next_attempt_at=now + timedelta(seconds=delay), last_error=reason)
            return fields, "failed", throttled
        reason = f"gave up after {counted} attempts in {_duration(age)}: {reason}"
        return dict(status=S.DEAD, last_error=reason), "dead", throttled
    reason = str(outcome) if isinstance(outcome, Exception) else f"unexpected outcome {outcome!r}"
    return dict(status=S.DEAD, last_error=reason), "dead", False


def _record(delivery: Delivery, outcome: Any, policy: dict[str, float]) -> str:
    """Store one outcome with a conditional UPDATE (only if we still hold the claim)."""
    now = timezone.now()
    fields, bucket, refund = outcome_fields(delivery, outcome, policy, now)
    if fields.get("last_error"):
        fields["last_error"] = redact(fields["last_error"])[:2000]
    if isinstance(outcome, ConfigurationError):
        logger.error("DSN %s configuration error: %s", delivery.messenger, fields["last_error"])
    fields.update(lease_until=None, claim="", updated_at=now)
    update = dict(fields, attempts=F("attempts") - 1) if refund else fields
    updated = retry_locked(
        Delivery.objects.filter(pk=delivery.pk, claim=delivery.claim, status=S.SENDING).update, **update
    )
    if not updated:
        logger.warning("DSN lost the claim on delivery %s before recording it", delivery.pk)
        return bucket
    for name, value in fields.items():
        setattr(delivery, name, value)
    if refund:
        delivery.attempts -= 1
    error = fields.get("last_error", "")
    _announce(delivery, fields["status"], error)
    return bucket


def drain(backend_id: int | None, notification_id: int | None = None, *, max_batches: int = 1000) -> dict[str, int]:
    """Claim and send due deliveries until none are left (or ``max_batches`` is reached)."""
    return drain_for(backend_id, notification_id, max_batches=max_batches)[0]


def drain_for(
    backend_id: int | None,
    notification_id: int | None = None,
    *,
    max_batches: int = 1000,
    max_seconds: float | None = None,
    between: Callable[[bool], None] | None = None,
) -> tuple[dict[str, int], bool]:
    """:func:`drain`, for at most ``max_seconds``, calling ``between(full)`` after each claim
    that took something (before sending it); ``full``: the claim filled a whole batch.

    Returns the counts and whether it stopped with work maybe left (a budget ran out).
    """
    totals = {"sent": 0, "failed": 0, "dead": 0, "lost": 0}
    size = 100
    cls = None
    if backend_id is not None:
        backend = Backend.objects.filter(pk=backend_id).first()
        cls = get_messenger_class(backend.messenger) if backend else None
        size = max(1, getattr(cls, "max_batch_size", 100))
    senders: dict[Any, Sender] = {}
    missing: set[Any] = set()  # backends whose messenger is not installed: their deliveries wait
    # Notifications and backends loaded once per drain (a drain lasts at most about one lease;
    # its senders already keep the backend's options from its first batch).
    loaded: dict[str, dict[Any, Any]] = {}
    started = time.monotonic()
    try:
        for _ in range(max_batches):
            batch = claim(backend_id, notification_id, size, exclude_backends=missing, loaded=loaded)
            if not batch:
                return totals, False
            if between is not None:
                between(len(batch) >= size)
            for key, value in send_claimed(batch, senders, missing).items():
                totals[key] += value
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                break
    finally:
        for sender in senders.values():
            sender.close()
    return totals, True


@dataclass(frozen=True)
class Written:
    """Deliveries fan-out wrote already claimed (see :func:`~dsn_core.fanout.insert_deliveries`):
    every value they share; each row adds only its id, recipient and address."""

    notification_id: Any
    subscription_id: Any
    backend_id: Any
    messenger: str
    claim: str
    lease_until: datetime
    #: Their ``created_at`` and ``updated_at``.
    written_at: datetime
    #: ``time.monotonic()`` when their lease began.
    claimed_at: float
    #: What fan-out loaded already, by primary key: the notification and the receivers (whole
    #: users), so that sending them does not read them again.
    notification: Any = field(default=None, compare=False, repr=False)
    users: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def deliveries(self) -> list[Delivery]:
        """The rows still held under this claim, read back as ids, recipients and addresses
        (the rest is known: reading whole rows back was a tenth of sending them)."""
        alias = router.db_for_write(Delivery)
        qs = Delivery.objects.using(alias).filter(
            notification_id=self.notification_id, backend_id=self.backend_id, claim=self.claim, status=S.SENDING
        )
        shared = {
            "notification_id": self.notification_id,
            "subscription_id": self.subscription_id,
            "backend_id": self.backend_id,
            "messenger": self.messenger,
            "status": S.SENDING,
            "attempts": 1,
            "next_attempt_at": None,
            "lease_until": self.lease_until,
            "claim": self.claim,
            "last_error": "",
            "provider_id": "",
            "created_at": self.written_at,
            "updated_at": self.written_at,
            "sent_at": None,
            "receipt": "",
            "receipt_detail": "",
            "receipt_at": None,
            "resend_of_id": None,
            "fallback_of_id": None,
        }
        attnames = [f.attname for f in Delivery._meta.concrete_fields]
        own = ("id", "recipient_id", "address")
        if set(attnames) != set(shared) | set(own):  # a field this does not know: read whole rows
            return _instances(Delivery, alias, attnames, list(qs.order_by("pk").values_list(*attnames)))
        where = [own.index(name) if name in own else -1 for name in attnames]
        values = [shared.get(name) for name in attnames]
        rows = [
            [row[i] if i >= 0 else value for i, value in zip(where, values, strict=True)]
            for row in qs.order_by("pk").values_list(*own)
        ]
        return _instances(Delivery, alias, attnames, rows)


def send_written(written: Written) -> dict[str, int]:
    """Send deliveries fan-out wrote already claimed, batch by batch as a drain would.

    Their leases count from :attr:`Written.claimed_at` and are renewed by the heartbeat while
    they wait their turn. Rows another worker took meanwhile (their lease ran out) are not sent
    here: they are no longer ``sending`` under this claim.
    """
    totals = {"sent": 0, "failed": 0, "dead": 0, "lost": 0}
    deliveries = written.deliveries()
    if not deliveries:
        return totals
    loaded: dict[str, dict[Any, Any]] = {"users": dict(written.users)}
    if written.notification is not None:
        loaded["notifications"] = {written.notification_id: written.notification}
    _attach(deliveries, loaded)
    for delivery in deliveries:
        delivery._dsn_claimed_at = written.claimed_at  # type: ignore[attr-defined]
    cls = get_messenger_class(written.messenger)
    size = max(1, getattr(cls, "max_batch_size", 100))
    senders: dict[Any, Sender] = {}
    missing: set[Any] = set()
    try:
        with _heartbeat.covering(deliveries):
            for start in range(0, len(deliveries), size):
                batch = deliveries[start : start + size]
                for key, value in send_claimed(batch, senders, missing).items():
                    totals[key] += value
    finally:
        for sender in senders.values():
            sender.close()
    return totals


def next_retry_at(backend_id: int | None, notification_id: int | None = None) -> Any:
    """When the earliest failed delivery of this backend (and notification) is due again
    (deliveries waiting for a missing plugin have no time: the sweeper finds them)."""
    qs = Delivery.objects.filter(status=S.FAILED, next_attempt_at__isnull=False)
    if backend_id is not None:
        qs = qs.filter(backend_id=backend_id)
    if notification_id is not None:
        qs = qs.filter(notification_id=notification_id)
    return qs.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
