"""Digests: a subscription collects a recipient's events for a window, then sends one message.

The window is one :class:`~dsn_core.orchestration.models.Digest` row per (subscription,
backend, address), unique while open; each event is a
:class:`~dsn_core.orchestration.models.DigestItem`. Closing a window is one conditional
UPDATE (``closed_at`` from NULL to now) in the same transaction that writes the digest's one
:class:`~dsn_core.models.Notification` and :class:`~dsn_core.models.Delivery`, so a window is
sent exactly once, by the normal sending path, even when workers die or race. Due windows
are closed by a deferred task and, as a safety net, by the sweeper.

The digest's message is rendered with ``events`` (each with the variables a single event
has) and ``count`` (:func:`digest_context`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import Digest, DigestItem, SubscriptionPolicy
from .quiet_hours import quiet_until

logger = logging.getLogger("dsn_core.orchestration.digests")


def due_at_for(policy: SubscriptionPolicy, preference: Any, now: datetime) -> datetime:
    """When a window opened ``now`` closes: after its minutes, or at the next HH:MM in the
    recipient's zone; pushed to the end of their quiet hours when it would fall inside them."""
    if policy.digest == SubscriptionPolicy.Digest.DAILY and policy.digest_at is not None:
        zone = preference.zone() if preference is not None else timezone.get_default_timezone()
        local = now.astimezone(zone)
        due = datetime.combine(local.date(), policy.digest_at, tzinfo=zone)
        if due <= local:
            due = datetime.combine(local.date() + timedelta(days=1), policy.digest_at, tzinfo=zone)
    elif policy.digest == SubscriptionPolicy.Digest.WINDOW:
        due = now + timedelta(minutes=policy.digest_minutes or 1)
    else:  # a throttle folding into the next digest: the throttle's window
        from .throttle import window_start

        start = window_start(now, policy.throttle_minutes)
        due = datetime.fromtimestamp(start, tz=now.tzinfo) + timedelta(minutes=policy.throttle_minutes)
    if policy.respect_quiet_hours and not policy.subscription.critical:
        due = quiet_until(preference, due) or due
    return due


def add_event(
    policy: SubscriptionPolicy,
    notification: Any,
    backend: Any,
    recipient_id: Any,
    address: str,
    due_at: datetime,
    *,
    first_immediately: bool = False,
) -> bool:
    """Put one event into the recipient's open window (opening one when there is none).

    With ``first_immediately``, an event that opens a window is not added: the window opens
    empty and ``True`` is returned, meaning "send this one now". Otherwise returns ``False``.
    """
    key = {"subscription_id": policy.subscription_id, "backend_id": backend.pk, "address": address}
    # A second fan-out of an event (a worker killed before it marked the notification fanned out)
    # may come after the event's window closed: it was collected once, in any window, so it is
    # not collected again (it would reach the recipient in a second digest).
    seen = DigestItem.objects.filter(notification=notification, digest__in=Digest.objects.filter(**key))
    if seen.exists():
        return False
    if first_immediately and Digest.objects.filter(**key, first_notification_id=notification.pk).exists():
        return True  # it opened a window and is sent at once; writing that delivery again is a no-op
    for _ in range(5):
        with transaction.atomic():
            digest = Digest.objects.filter(**key, closed_at=None).first()
            if digest is None:
                try:
                    with transaction.atomic():
                        digest = Digest.objects.create(
                            **key,
                            recipient_id=recipient_id,
                            opened_at=timezone.now(),
                            due_at=due_at,
                            count=0 if first_immediately else 1,
                            first_notification_id=notification.pk if first_immediately else None,
                        )
                except IntegrityError:  # another worker opened it a moment ago: join theirs
                    continue
                _schedule(digest.due_at)
                if first_immediately:
                    return True
            elif first_immediately and digest.first_notification_id == notification.pk:
                return True  # a second fan-out of the event that opened this window: still "send now"
            elif not Digest.objects.filter(pk=digest.pk, closed_at=None).update(count=F("count") + 1):
                continue  # closed meanwhile: the next window takes this event
            else:
                digest.count += 1
            _, created = DigestItem.objects.get_or_create(digest=digest, notification=notification)
            if not created:  # a second fan-out of the same event: do not count it twice
                Digest.objects.filter(pk=digest.pk).update(count=F("count") - 1)
                digest.count -= 1
        limit = policy.digest_max_events
        if limit and digest.count >= limit:
            close(digest.pk)
        return False
    raise RuntimeError(f"DSN could not add notification {notification.pk} to a digest")


def _schedule(due_at: datetime) -> None:
    from .tasks import enqueue_close

    transaction.on_commit(lambda: enqueue_close(due_at), robust=True)


def close(digest_id: int, now: datetime | None = None, *, enqueue: bool = True) -> int | None:
    """Close one open window and write its one delivery; return the delivery's id (``None``
    when the window was already closed by someone else, or held no events). ``enqueue=False``:
    the caller enqueues the sending (:func:`close_due` does it once per backend)."""
    from ..models import Delivery, Notification

    now = now or timezone.now()
    with transaction.atomic():
        if not Digest.objects.filter(pk=digest_id, closed_at=None).update(closed_at=now):
            return None
        digest = Digest.objects.select_related("subscription__trigger", "backend").get(pk=digest_id)
        contexts = list(
            DigestItem.objects.filter(digest_id=digest_id)
            .order_by("notification_id")
            .values_list("notification__context", flat=True)
        )
        if not contexts:
            return None
        subscription, backend = digest.subscription, digest.backend
        trigger = subscription.trigger
        notification = Notification.objects.create(
            trigger=trigger,
            trigger_name=trigger.name,
            verb=trigger.verb,
            created_at=now,
            fanned_out_at=now,
            context={"verb": trigger.verb, "kwargs": {}, "digest": contexts},
        )
        delivery = Delivery.objects.create(
            notification=notification,
            subscription=subscription,
            backend=backend,
            messenger=backend.messenger,
            recipient_id=digest.recipient_id,
            address=digest.address,
            created_at=now,
        )
        Digest.objects.filter(pk=digest_id).update(delivery=delivery)
        if enqueue:
            transaction.on_commit(lambda: _send(backend.pk, None, 1), robust=True)
    logger.debug("DSN digest %s closed with %s events as delivery %s", digest_id, len(contexts), delivery.pk)
    return delivery.pk


def _send(backend_id: int, notification_id: int | None, pending: int) -> None:
    from ..tasks import enqueue_send

    enqueue_send(backend_id, notification_id, pending)


def close_due(now: datetime | None = None, limit: int = 1000) -> int:
    """Close every open window that is due; return how many became a delivery."""
    now = now or timezone.now()
    due = list(
        Digest.objects.filter(closed_at=None, due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", "backend_id")[:limit]
    )
    per_backend: dict[int, int] = {}
    for pk, backend_id in due:
        if close(pk, now, enqueue=False) is not None:
            per_backend[backend_id] = per_backend.get(backend_id, 0) + 1
    for backend_id, pending in per_backend.items():  # one set of senders per backend, not one per window
        try:
            _send(backend_id, None, pending)
        except Exception:  # the deliveries are written; the sweeper enqueues them again
            logger.exception("DSN could not enqueue the sending of %s digests", pending)
    return sum(per_backend.values())


def forget_closed(now: datetime, days: float = 1.0) -> int:
    """Delete windows closed more than ``days`` ago (their message lives on as a delivery)."""
    return Digest.objects.filter(closed_at__lt=now - timedelta(days=days)).delete()[0]


def digest_context(contexts: list[dict[str, Any]], site: Any = None) -> dict[str, Any]:
    """The template variables of a digest: ``events`` (each like a single event's context) and ``count``."""
    from ..receivers import Event
    from ..rendering import base_context

    events = [base_context(Event.from_context(c), None, site) for c in contexts]
    return {"events": events, "count": len(events)}
