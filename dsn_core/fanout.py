"""Fan-out: expand one Notification into Delivery rows, one per backend x address.

Idempotent: a unique key (notification, backend, address) makes a second run create
nothing twice, so the sweeper may re-run a fan-out that a lost worker left half done.
Receivers are processed in chunks of ``DSN["FANOUT_CHUNK"]`` users, so memory stays flat.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from . import conf
from .instances import from_rows
from .messengers import Messenger
from .models import Backend, Delivery, Notification, OptOut, Subscription
from .orchestration import policy_of
from .orchestration.routing import orchestrate
from .plugins import get_messenger_class
from .receivers import Event, dynamic_users
from .sending import Written, deduplicates, send_written

logger = logging.getLogger("dsn_core.fanout")

NO_ADDRESS = "no address on this channel"
OPTED_OUT = "opted out"
#: Address of a delivery whose messenger could not look addresses up at fan-out time.
PLACEHOLDER = "user:"


def _chunks(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(iterable)
    while chunk := list(islice(it, size)):
        yield chunk


def receiver_user_ids(subscription: Subscription, event: Event) -> list[Any]:
    """Primary keys of every user the subscription reaches for this event (deduplicated)."""
    user_model = get_user_model()
    ids: dict[Any, None] = {}
    for pk in subscription.receiver_users.filter(is_active=True).values_list("pk", flat=True):
        ids[pk] = None
    group_ids = list(subscription.receiver_groups.values_list("pk", flat=True))
    if group_ids:
        members = user_model._default_manager.filter(groups__in=group_ids, is_active=True).values_list("pk", flat=True)
        for pk in members.iterator(chunk_size=5000):
            ids[pk] = None
    if subscription.dynamic_receivers:
        for user in dynamic_users(event, subscription.dynamic_receivers):
            if getattr(user, "is_active", True):
                ids[user.pk] = None
    return list(ids)


def _opt_outs(subscription: Subscription, messenger: str) -> Any:
    return OptOut.objects.filter(
        Q(messenger=messenger, subscription=None)
        | Q(messenger="", subscription=subscription)
        | Q(messenger=messenger, subscription=subscription)
        | Q(messenger="", subscription=None)
    )


def _opted_out(user_ids: list[Any], subscription: Subscription, messenger: str) -> set[Any]:
    if subscription.critical or not user_ids:
        return set()
    return set(_opt_outs(subscription, messenger).filter(user_id__in=user_ids).values_list("user_id", flat=True))


def _with_pks(queryset: Any, pks: list[Any]) -> Any:
    """``queryset.filter(pk__in=pks)``; on PostgreSQL as one array parameter, not one per key
    (psycopg parsed 2,000 placeholders per chunk, and Django prepared each value)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return queryset.filter(pk__in=pks)
    kind = queryset.model._meta.pk.db_type(connection)
    return queryset.filter(pk__in=RawSQL(f"SELECT unnest(%s::{kind}[])", (list(pks),)))


def _fields_to_load(messenger: Messenger, user_model: Any) -> tuple[str, ...] | None:
    """The user fields to load for ``messenger.addresses_for`` (its :attr:`~Messenger.user_fields`
    and the primary key), or ``None`` for all of them (undeclared, or a name ``only()`` cannot take)."""
    try:
        declared = messenger.user_fields
    except Exception:
        logger.exception("DSN messenger %s could not name its user fields; loading them all", messenger.key)
        return None
    if declared is None:
        return None
    names = ["pk"]
    for name in declared:
        try:
            field = user_model._meta.get_field(name)
        except (FieldDoesNotExist, TypeError):
            return None  # a property or a dotted path: only a whole user has it
        if not field.concrete or field.many_to_many:
            return None
        names.append(field.name)
    return tuple(names)


def _load_users(queryset: Any, user_model: Any, fields: tuple[str, ...] | None) -> list[Any]:
    """The users of ``queryset`` with ``fields`` loaded (all when ``None``; the rest deferred):
    what ``queryset.only(*fields)`` gives, built from plain rows (:func:`~dsn_core.instances.from_rows`),
    which for 100,000 receivers is most of the Python time of loading them."""
    wanted = None if fields is None else {user_model._meta.get_field(n).attname for n in fields if n != "pk"}
    attnames = [
        f.attname for f in user_model._meta.concrete_fields if f.primary_key or wanted is None or f.attname in wanted
    ]
    return from_rows(user_model, queryset.db, attnames, list(queryset.values_list(*attnames)))


#: One delivery to write: (recipient_id, address, status, last_error).
Row = tuple[Any, str, str, str]
_PENDING = Delivery.Status.PENDING.value
_SKIPPED = Delivery.Status.SKIPPED.value
_SENDING = Delivery.Status.SENDING.value


def _rows_for_users(
    subscription: Subscription,
    backend: Backend,
    user_ids: list[Any],
    may_opt_out: bool = True,
    keep: dict[Any, Any] | None = None,
) -> list[Row]:
    """The rows to write for these users. With ``keep``: whole users are loaded and kept
    there by primary key (for sending them right away); otherwise only what the messenger reads."""
    user_model = get_user_model()
    cls = get_messenger_class(backend.messenger)
    messenger = None
    if cls is not None:
        try:
            messenger = cls(backend.options)
        except Exception:
            logger.exception("DSN backend %s has invalid options; its deliveries wait for a fix", backend.pk)
    if messenger is None:
        # Keep them pending with a placeholder address: they fail ("not installed", "bad
        # options") at send time, and the address is looked up again when they are retried.
        return [(pk, f"{PLACEHOLDER}{pk}", _PENDING, "") for pk in user_ids]
    # Only the fields the messenger reads: whole users were most of fan-out's Python time.
    queryset = _with_pks(user_model._default_manager.all(), user_ids)
    fields = None if keep is not None else _fields_to_load(messenger, user_model)
    users = _load_users(queryset, user_model, fields)
    if keep is not None:
        keep.update((user.pk, user) for user in users)
    addresses = messenger.addresses_for(users)
    opted_out = _opted_out(user_ids, subscription, backend.messenger) if may_opt_out else set()
    rows: list[Row] = []
    for user in users:
        pk = user.pk
        address = addresses.get(pk)
        if pk in opted_out:
            rows.append((pk, address or f"{PLACEHOLDER}{pk}", _SKIPPED, OPTED_OUT))
        elif not address:
            rows.append((pk, f"{PLACEHOLDER}{pk}", _SKIPPED, NO_ADDRESS))
        else:
            rows.append((pk, address, _PENDING, ""))
    return rows


#: Rows per multi-row INSERT (14 parameters each: well under SQLite's and PostgreSQL's limits).
_ROWS_PER_INSERT = 500
_COLUMNS = (
    "notification_id",
    "subscription_id",
    "backend_id",
    "messenger",
    "recipient_id",
    "address",
    "status",
    "last_error",
    "attempts",
    "claim",
    "provider_id",
    "created_at",
    "updated_at",
    "lease_until",
)
#: Rows written already claimed (see :func:`insert_deliveries`): the claim token and its lease.
Claim = tuple[str, datetime]


def insert_deliveries(
    notification: Notification,
    subscription: Subscription | None,
    backend: Backend,
    rows: list[Row],
    fresh: bool = False,
    claim: Claim | None = None,
) -> datetime:
    """Write delivery rows, ignoring ones that exist already (the unique key makes re-runs safe).

    ``claim``: write every row already claimed (``sending``, this token and lease, one attempt),
    as a claim would leave it, so the writer can send them without a second write to take them.
    Returns the time written as the rows' ``created_at`` and ``updated_at``.

    On SQLite and PostgreSQL this is a multi-row ``INSERT ... ON CONFLICT DO NOTHING`` per
    500 rows (10,000 deliveries: 4.4 s with ``bulk_create``, 0.4 s this way, on SQLite), or
    one ``unnest`` of arrays on PostgreSQL; elsewhere it falls back to
    ``bulk_create(ignore_conflicts=True)``.

    ``fresh=True`` says none of the rows is likely to exist yet (a first fan-out): on
    PostgreSQL with psycopg 3 they are then streamed with ``COPY``, which spares the driver
    the building of one huge parameter per column. ``COPY`` cannot skip a duplicate, so it
    runs in a savepoint, and a unique-key conflict (a concurrent or earlier run, two users
    with one address) rolls it back and writes the rows the idempotent way instead.
    """
    now = timezone.now()
    if not rows:
        return now
    alias = router.db_for_write(Delivery)
    connection = connections[alias]
    token, lease = claim if claim is not None else ("", None)
    attempts = 1 if claim is not None else 0
    if claim is not None:
        rows = [(r, a, _SENDING, e) for r, a, _, e in rows]
    if connection.vendor not in ("sqlite", "postgresql"):
        Delivery.objects.using(alias).bulk_create(
            [
                Delivery(
                    notification=notification,
                    subscription=subscription,
                    backend=backend,
                    messenger=backend.messenger,
                    recipient_id=r,
                    address=a,
                    status=st,
                    last_error=e,
                    created_at=now,
                    attempts=attempts,
                    claim=token,
                    lease_until=lease,
                )
                for r, a, st, e in rows
            ],
            ignore_conflicts=True,
        )
        return now
    stamp = connection.ops.adapt_datetimefield_value(now)
    lease_stamp = connection.ops.adapt_datetimefield_value(lease)
    table = connection.ops.quote_name(Delivery._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _COLUMNS)
    row_marks = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    head = (notification.pk, subscription.pk if subscription else None, backend.pk, backend.messenger)
    if connection.vendor == "postgresql":
        from django.db.backends.postgresql.psycopg_any import is_psycopg3  # only importable with a driver

        copy = f"COPY {table} ({columns}) FROM STDIN"
        if fresh and is_psycopg3 and _copy_rows(connection, alias, copy, head, rows, (now, attempts, token, lease)):
            return now
        # One array per column, unnested by the server: the query text stays tiny, so the
        # driver has no placeholders to parse however many rows there are.
        by_column = {f.column: f for f in Delivery._meta.concrete_fields}
        types = [by_column[c].db_type(connection) for c in _COLUMNS]
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        tail = (attempts, token, "", now, now, lease)
        columns_data = list(zip(*[(*head, r, a, st, e, *tail) for r, a, st, e in rows], strict=True))
        outermost = not connection.in_atomic_block
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            if outermost:
                cursor.execute(_NO_FLUSH)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING",
                [list(column) for column in columns_data],
            )
        return now
    written = (attempts, token, "", stamp, stamp, lease_stamp)
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            params = [v for r, a, st, e in chunk for v in (*head, r, a, st, e, *written)]
            values = ", ".join([row_marks] * len(chunk))
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT DO NOTHING", params)
    return now


#: A chunk's own transaction commits without waiting for its WAL to reach the disk (on a busy
#: disk 50 flushes were 1.7-5 s of a 100,000 fan-out). Nothing durable is lost: fan-out's last
#: write (``fanned_out_at``) commits normally, which flushes the WAL of every chunk before it,
#: as does any worker's claim of one of the rows; a server crash before that loses only rows of
#: a fan-out not yet marked done, which the sweeper runs again. Only where fan-out owns the
#: transaction: a caller's own transaction keeps its durability.
_NO_FLUSH = "SET LOCAL synchronous_commit TO OFF"

#: Backslash escapes of COPY's text format, and its NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def _copy_text(value: Any) -> str:
    return _NULL if value is None else str(value).translate(_COPY_ESCAPES)


def _copy_rows(
    connection: Any, alias: str, sql: str, head: tuple[Any, ...], rows: list[Row], tail: tuple[datetime, int, str, Any]
) -> bool:
    """Stream the rows with psycopg 3's ``COPY`` in a savepoint; False (nothing written) on a conflict.

    ``tail``: the time, attempts, claim token and lease written with every row."""
    started = time.monotonic()
    # COPY's text format, built here: the columns other than the four of a Row are the same for
    # every row, so they are formatted once (psycopg's write_row formats 14 values per row).
    start = "\t".join(_copy_text(v) for v in head) + "\t"
    now, attempts, token, lease = tail
    stamp = now.isoformat()
    end = f"\t{attempts}\t{_copy_text(token)}\t\t{stamp}\t{stamp}\t{_NULL if lease is None else lease.isoformat()}\n"
    text = "".join(
        f"{start}{r if type(r) is int else _copy_text(r)}\t{_copy_text(a)}\t{st}\t{_copy_text(e)}{end}"
        for r, a, st, e in rows
    )
    outermost = not connection.in_atomic_block
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor, connection.wrap_database_errors:
            if outermost:
                cursor.execute(_NO_FLUSH)
            with cursor.cursor.copy(sql) as copy:
                copy.write(text)
    except IntegrityError:
        return False
    finally:
        if connection.queries_logged:  # Django's query log does not see COPY; tests and benchmarks count it
            connection.queries_log.append(
                {"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.monotonic() - started:.3f}"}
            )
    return True


def _backend_addresses(backend: Backend) -> list[str]:
    cls = get_messenger_class(backend.messenger)
    if cls is None:
        return []
    try:
        return list(cls(backend.options).backend_addresses())
    except Exception:
        logger.exception("DSN backend %s could not list its own addresses", backend.pk)
        return []


def _forget_deleted(notification: Notification, subscription_ids: set[int], backend_ids: set[int]) -> None:
    """Null the subscription and backend of this notification's deliveries where that row was
    deleted while the fan-out ran: without a database constraint (see Delivery) nothing
    stopped rows written after the deletion's ``SET NULL`` from naming it. Two small queries."""
    for model, field, wanted in ((Subscription, "subscription", subscription_ids), (Backend, "backend", backend_ids)):
        gone = wanted - set(model.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        if gone:
            Delivery.objects.filter(notification_id=notification.pk, **{f"{field}_id__in": gone}).update(
                **{field: None}
            )


def fan_out(notification_id: int, *, send_first: bool = False) -> int:
    """Create the deliveries of one notification and enqueue their sending.

    ``send_first``: the first chunk (``DSN["FANOUT_CHUNK"]`` users) of each subscription and
    backend whose provider deduplicates is written already claimed and sent right here, once
    the rest is enqueued for other workers (:func:`~dsn_core.sending.send_written`): it needs
    no send task and no second write to take it. Otherwise every delivery is left ``pending``
    for send tasks.

    Returns how many delivery rows this run created (0 when already fanned out).
    """
    from .tasks import enqueue_send

    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None or notification.fanned_out_at is not None:
        return 0
    if notification.trigger_id is None:  # its trigger was deleted since: nobody to address
        return 0
    event = Event.from_context(notification.context)
    chunk = int(conf.get("FANOUT_CHUNK"))
    existing = Delivery.objects.filter(notification=notification).count()
    backends_used: set[int] = set()
    subscriptions = (
        Subscription.objects.filter(trigger_id=notification.trigger_id, enabled=True)
        .prefetch_related("backends")
        .select_related("policy")
    )  # orchestration: joined, so subscriptions without a policy cost no query
    subscription_ids: set[int] = set()
    written: list[Written] = []  # deliveries written already claimed, to send here
    lease = float(conf.get("LEASE_SECONDS"))
    for subscription in subscriptions:
        subscription_ids.add(subscription.pk)
        backends = list(subscription.backends.all())
        if not backends:
            continue
        user_ids = receiver_user_ids(subscription, event)
        if (policy := policy_of(subscription)) is not None:  # digests, throttles, routing, quiet hours
            backends_used.update(orchestrate(notification, subscription, policy, backends, user_ids))
            continue
        for backend in backends:
            backends_used.add(backend.pk)
            own = _backend_addresses(backend)
            if own:  # the backend names its destination (an ops chat): users are not addressed
                insert_deliveries(notification, subscription, backend, [(None, a, _PENDING, "") for a in own])
            else:
                # One cheap query spares a per-chunk opt-out lookup when nobody opted out.
                may_opt_out = not subscription.critical and _opt_outs(subscription, backend.messenger).exists()
                send_here = send_first and deduplicates(get_messenger_class(backend.messenger))
                for index, ids in enumerate(_chunks(user_ids, chunk)):
                    users: dict[Any, Any] | None = {} if send_here and index == 0 else None
                    rows = _rows_for_users(subscription, backend, ids, may_opt_out, users)
                    if users is not None:
                        rows = _write_claimed(
                            notification, subscription, backend, rows, not existing, lease, written, users
                        )
                    insert_deliveries(notification, subscription, backend, rows, fresh=not existing)
            fixed = (subscription.fixed_addresses or {}).get(backend.messenger, [])
            insert_deliveries(notification, subscription, backend, [(None, a, _PENDING, "") for a in fixed])
    if not Notification.objects.filter(pk=notification.pk).update(fanned_out_at=timezone.now()):
        # Deleted meanwhile. Its deliveries have no database constraint (see Delivery): remove
        # what this run wrote after the deletion's cascade, as the cascade would have.
        Delivery.objects.filter(notification_id=notification.pk).delete()
        return 0
    _forget_deleted(notification, subscription_ids, backends_used)
    created = Delivery.objects.filter(notification=notification).count() - existing
    for backend_id in sorted(backends_used):
        pending = Delivery.objects.filter(
            notification=notification, backend_id=backend_id, status=Delivery.Status.PENDING
        ).count()
        if pending:
            enqueue_send(backend_id, notification.pk, pending)
    logger.debug("DSN fanned out notification %s into %s deliveries", notification.pk, created)
    for claimed in written:
        send_written(claimed)
    return created


def _write_claimed(
    notification: Notification,
    subscription: Subscription,
    backend: Backend,
    rows: list[Row],
    fresh: bool,
    lease: float,
    written: list[Written],
    users: dict[Any, Any],
) -> list[Row]:
    """Write the rows ready to send (pending, with an address) already claimed, noting the claim
    (and ``users``, the receivers loaded whole) in ``written``; return the other rows (skipped
    ones, placeholders) for the caller to write.

    Only for a messenger whose provider deduplicates (the caller checks): it takes whole
    batches, so one task sends a chunk in a few calls. A provider that gets one message per
    call is a round trip per message; its rows go to send tasks, whose helpers spread them over
    the workers."""
    ready: list[Row] = []
    others: list[Row] = []
    for row in rows:
        (ready if row[2] == _PENDING and not row[1].startswith(PLACEHOLDER) else others).append(row)
    if not ready:
        return rows
    from .tasks import watch_lease

    claimed_at = time.monotonic()
    token, until = uuid.uuid4().hex, timezone.now() + timedelta(seconds=lease)
    now = insert_deliveries(notification, subscription, backend, ready, fresh=fresh, claim=(token, until))
    held = Written(
        notification.pk,
        subscription.pk,
        backend.pk,
        backend.messenger,
        token,
        until,
        now,
        claimed_at,
        notification=notification,
        users=users,
    )
    written.append(held)
    watch_lease(backend.pk, until)  # if this worker dies while sending them
    return others
