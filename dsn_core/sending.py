"""Sending: claim pending deliveries atomically, render per recipient, call the messenger,
record each outcome, and schedule retries with exponential backoff and full jitter.

Claims set ``status=sending``, a lease and a random claim token with one conditional
UPDATE, so two workers never send the same delivery; a worker that dies leaves a lease
that expires, and the sweeper puts the delivery back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
import uuid
from collections import ChainMap
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
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
from .messengers import Message, Messenger, SendResult
from .models import Backend, Delivery, Notification
from .plugins import call_observers, get_messenger_class
from .receivers import Event
from .redaction import redact
from .rendering import base_context, compiled, current_site, render

logger = logging.getLogger("dsn_core.sending")
S = Delivery.Status
CLAIMABLE = (S.PENDING, S.FAILED)


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
    """Base, cap and max attempts: settings, then the messenger's, then the backend's options."""
    policy = {
        "base": float(conf.get("RETRY_BASE")),
        "cap": float(conf.get("RETRY_CAP")),
        "max_attempts": int(conf.get("MAX_ATTEMPTS")),
    }
    if messenger_cls is not None:
        policy.update(messenger_cls.retry_policy)
    if backend is not None:
        for key in policy:
            value = (backend.options or {}).get(f"retry_{key}")
            if value is not None:
                policy[key] = float(value)
    return policy


def claim(backend_id: int | None, notification_id: int | None, limit: int) -> list[Delivery]:
    """Atomically take up to ``limit`` due deliveries; return them with relations loaded."""
    now = timezone.now()
    token = uuid.uuid4().hex
    due = Q(status__in=CLAIMABLE) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    qs = Delivery.objects.filter(due)
    if backend_id is not None:
        qs = qs.filter(backend_id=backend_id)
    if notification_id is not None:
        qs = qs.filter(notification_id=notification_id)
    lease = now + timedelta(seconds=float(conf.get("LEASE_SECONDS")))
    with transaction.atomic():
        candidates = qs.order_by("pk")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        Delivery.objects.filter(due, pk__in=ids).update(
            status=S.SENDING, claim=token, lease_until=lease, attempts=F("attempts") + 1, updated_at=now
        )
    return list(
        Delivery.objects.filter(claim=token, status=S.SENDING)
        .select_related("notification", "backend__template", "recipient")
        .order_by("pk")
    )


def _language(user: Any, attribute: str) -> str | None:
    if not attribute or user is None:
        return None
    return getattr(user, attribute, None) or None


def build_messages(deliveries: Sequence[Delivery], messenger: Messenger) -> list[Message | DeliveryError]:
    """Render one message per delivery (a ``DeliveryError`` where rendering fails)."""
    from .unsubscribe import unsubscribe_url, url_pattern

    site = current_site()
    pattern = url_pattern()
    shared: dict[int, dict[str, Any]] = {}  # one context per notification, shared by its recipients
    escape = messenger.escape if messenger.escape_values else None
    language_attribute = conf.get("USER_LANGUAGE_ATTRIBUTE")
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
            own = {"recipient": delivery.recipient, "address": delivery.address, "unsubscribe_url": url}
            context = ChainMap(own, base)
            language = _language(delivery.recipient, language_attribute)
            with translation.override(language) if language else contextlib.nullcontext():
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

    A slow batch (a rate limit, a slow provider) must not outlive its lease: the sweeper
    would hand its rows to another worker and the message would go out twice.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=float(conf.get("LEASE_SECONDS")))
    claims = {d.claim for d, _ in batch}
    pks = [d.pk for d, _ in batch]
    renewed = Delivery.objects.filter(pk__in=pks, claim__in=claims, status=S.SENDING).update(lease_until=lease)
    if renewed == len(batch):
        return batch
    held = set(Delivery.objects.filter(pk__in=pks, claim__in=claims, status=S.SENDING).values_list("pk", flat=True))
    for delivery, _ in batch:
        if delivery.pk not in held:
            logger.warning("DSN lost the claim on delivery %s before sending it; not sending", delivery.pk)
    return [(d, m) for d, m in batch if d.pk in held]


class _Heartbeat:
    """One daemon thread per process that keeps extending the leases of in-flight batches.

    While a batch is with the provider its rows stay claimed; without this, a batch slower
    than ``LEASE_SECONDS`` would be swept back to another worker while still being sent,
    and its messages would go out twice. Registering a batch costs a lock, not a thread.
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
                due = [(key, pks, claims) for key, (pks, claims, since) in self.batches.items()
                       if now - since >= lease / 3]
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
    def covering(self, batch: list[tuple[Delivery, Message]]) -> Iterator[None]:
        key = id(batch)
        with self.lock:
            self.batches[key] = ([d.pk for d, _ in batch], {d.claim for d, _ in batch}, time.monotonic())
            self._ensure_thread()
        try:
            yield
        finally:
            with self.lock:
                self.batches.pop(key, None)


_heartbeat = _Heartbeat()


def send_claimed(deliveries: list[Delivery], messenger: Messenger | None = None) -> dict[str, int]:
    """Send deliveries already claimed (all of one backend); record every outcome.

    ``messenger``: an instance the caller already opened for this backend (``drain`` keeps
    one open across batches, so connections and event loops are set up once); by default
    one is made and opened for these deliveries.

    Returns counts by outcome: ``sent``, ``failed``, ``dead``, and ``lost`` (rows whose
    claim expired and went to another worker, so they were not sent here).
    """
    counts = {"sent": 0, "failed": 0, "dead": 0, "lost": 0}
    if not deliveries:
        return counts
    backend = deliveries[0].backend
    key = deliveries[0].messenger
    cls = get_messenger_class(key)
    policy = retry_policy(backend, cls)
    if cls is None:
        error = MessengerNotInstalled(f"messenger {key!r} not installed")
        for delivery in deliveries:
            counts[_record(delivery, error, policy)] += 1
        return counts
    session: Any = contextlib.nullcontext()
    if messenger is None:
        try:
            messenger = session = cls(backend.options if backend else {})
        except Exception as exc:
            error = ConfigurationError(f"bad options for {key}: {exc}")
            for delivery in deliveries:
                counts[_record(delivery, error, policy)] += 1
            return counts
    deliveries = _resolve_placeholders(deliveries, messenger)
    if not deliveries:
        return counts
    prepared = build_messages(deliveries, messenger)
    to_send = [(d, m) for d, m in zip(deliveries, prepared, strict=True) if isinstance(m, Message)]
    for delivery, item in zip(deliveries, prepared, strict=True):
        if isinstance(item, DeliveryError):
            counts[_record(delivery, item, policy)] += 1
    if not to_send:
        return counts
    from .ratelimit import wait_for_turn

    # A rate-limited messenger gets one message per call, each right after its slot comes:
    # waiting for a whole batch's slots and then sending it at once would burst past the limit.
    limited = any(messenger.rate_limits_for(m.address) for _, m in to_send)
    step = 1 if limited else max(1, cls.max_batch_size)
    try:
        with session:
            for start in range(0, len(to_send), step):
                chunk = to_send[start : start + step]
                batch = _renew_lease(chunk)
                counts["lost"] += len(chunk) - len(batch)
                if not batch:
                    continue
                if limited:
                    wait_for_turn(messenger, batch[0][1].address)
                try:
                    with _heartbeat.covering(batch):
                        outcomes = messenger.send_batch([m for _, m in batch])
                    if len(outcomes) != len(batch):
                        raise TransientError(f"{key} returned {len(outcomes)} outcomes for {len(batch)} messages")
                except DeliveryError as exc:
                    outcomes = [exc] * len(batch)
                except Exception as exc:
                    logger.exception("DSN messenger %s failed a whole batch", key)
                    outcomes = [TransientError(f"{type(exc).__name__}: {exc}")] * len(batch)
                for bucket in _record_batch([d for d, _ in batch], outcomes, policy):
                    counts[bucket] += 1
    except Exception as exc:  # open()/close() failing
        logger.exception("DSN messenger %s failed to open/close", key)
        for delivery, _ in to_send:
            if delivery.status == S.SENDING:
                counts[_record(delivery, TransientError(f"{type(exc).__name__}: {exc}"), policy)] += 1
    return counts


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


def _announce(delivery: Delivery, status: str, error: str) -> None:
    """Tell plugin hooks and Django signal receivers about a recorded outcome."""
    from . import signals

    call_observers("delivery_finished", delivery=delivery, status=status, error=error)
    signals.delivery_finished.send(Delivery, delivery=delivery, status=status, error=error)
    if status == S.DEAD:
        call_observers("delivery_dead", delivery=delivery)
        signals.delivery_dead.send(Delivery, delivery=delivery)


def _record_batch(deliveries: list[Delivery], outcomes: Sequence[Any], policy: dict[str, float]) -> list[str]:
    """Record a batch's outcomes: plain successes with one UPDATE, the rest one by one."""
    from django.db.models import Case, CharField, Value, When

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
    for claim_token, group in by_claim.items():
        provider_ids = Case(
            *[When(pk=d.pk, then=Value(o.provider_id[:255])) for d, o in group],
            default=Value(""),
            output_field=CharField(),
        )
        pks = [d.pk for d, _ in group]
        with transaction.atomic():
            mine = Delivery.objects.filter(pk__in=pks, claim=claim_token, status=S.SENDING)
            if connection.features.has_select_for_update:
                mine = mine.select_for_update()
            recorded = set(mine.values_list("pk", flat=True))
            Delivery.objects.filter(pk__in=recorded, claim=claim_token, status=S.SENDING).update(
                status=S.SENT, provider_id=provider_ids, sent_at=now, last_error="", lease_until=None, claim="",
                updated_at=now,
            )
        for delivery, outcome in group:
            buckets.append("sent")
            if delivery.pk not in recorded:
                logger.warning("DSN lost the claim on delivery %s before recording it", delivery.pk)
                continue
            delivery.status, delivery.provider_id, delivery.sent_at = S.SENT, outcome.provider_id[:255], now
            delivery.last_error, delivery.lease_until, delivery.claim, delivery.updated_at = "", None, "", now
            _announce(delivery, S.SENT, "")
    return buckets


def _record(delivery: Delivery, outcome: Any, policy: dict[str, float]) -> str:
    """Store one outcome with a conditional UPDATE (only if we still hold the claim)."""
    now = timezone.now()
    if isinstance(outcome, SendResult):
        fields: dict[str, Any] = dict(status=S.SENT, provider_id=outcome.provider_id[:255], sent_at=now, last_error="")
        if outcome.new_address:
            fields["address"] = outcome.new_address
        bucket = "sent"
    elif isinstance(outcome, DeliveryError) and outcome.retryable and delivery.attempts < policy["max_attempts"]:
        delay = backoff(delivery.attempts, base=policy["base"], cap=policy["cap"], retry_after=outcome.retry_after)
        fields = dict(status=S.FAILED, next_attempt_at=now + timedelta(seconds=delay), last_error=str(outcome)[:2000])
        bucket = "failed"
    else:
        reason = str(outcome) if isinstance(outcome, Exception) else f"unexpected outcome {outcome!r}"
        if isinstance(outcome, DeliveryError) and outcome.retryable:
            reason = f"gave up after {delivery.attempts} attempts: {reason}"
        fields = dict(status=S.DEAD, last_error=reason[:2000])
        bucket = "dead"
    if fields.get("last_error"):
        fields["last_error"] = redact(fields["last_error"])
    if isinstance(outcome, ConfigurationError):
        logger.error("DSN %s configuration error: %s", delivery.messenger, fields["last_error"])
    fields.update(lease_until=None, claim="", updated_at=now)
    updated = Delivery.objects.filter(pk=delivery.pk, claim=delivery.claim, status=S.SENDING).update(**fields)
    if not updated:
        logger.warning("DSN lost the claim on delivery %s before recording it", delivery.pk)
        return bucket
    for name, value in fields.items():
        setattr(delivery, name, value)
    error = fields.get("last_error", "")
    _announce(delivery, fields["status"], error)
    return bucket


def drain(backend_id: int | None, notification_id: int | None = None, *, max_batches: int = 1000) -> dict[str, int]:
    """Claim and send due deliveries until none are left (or ``max_batches`` is reached)."""
    totals = {"sent": 0, "failed": 0, "dead": 0, "lost": 0}
    size = 100
    backend, cls = None, None
    if backend_id is not None:
        backend = Backend.objects.filter(pk=backend_id).first()
        cls = get_messenger_class(backend.messenger) if backend else None
        size = max(1, getattr(cls, "max_batch_size", 100))
    messenger = _open_messenger(cls, backend)
    try:
        for _ in range(max_batches):
            batch = claim(backend_id, notification_id, size)
            if not batch:
                break
            for key, value in send_claimed(batch, messenger).items():
                totals[key] += value
    finally:
        if messenger is not None:
            try:
                messenger.close()
            except Exception:
                logger.exception("DSN messenger %s failed to close", messenger.key)
    return totals


def _open_messenger(cls: type | None, backend: Backend | None) -> Messenger | None:
    """One opened messenger for a whole drain, or ``None`` to let each batch open its own
    (and record the error per delivery when that fails)."""
    if cls is None or backend is None:
        return None
    try:
        messenger = cls(backend.options)
        messenger.open()
    except Exception:
        return None
    return messenger


def next_retry_at(backend_id: int | None, notification_id: int | None = None) -> Any:
    """When the earliest failed delivery of this backend (and notification) is due again."""
    qs = Delivery.objects.filter(status=S.FAILED)
    if backend_id is not None:
        qs = qs.filter(backend_id=backend_id)
    if notification_id is not None:
        qs = qs.filter(notification_id=notification_id)
    return qs.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
