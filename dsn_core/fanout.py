"""Fan-out: expand one Notification into Delivery rows, one per backend x address.

Idempotent: a unique key (notification, backend, address) makes a second run create
nothing twice, so the sweeper may re-run a fan-out that a lost worker left half done.
Receivers are processed in chunks of ``DSN["FANOUT_CHUNK"]`` users, so memory stays flat.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from . import conf
from .models import Backend, Delivery, Notification, OptOut, Subscription
from .plugins import get_messenger_class
from .receivers import Event, dynamic_users

logger = logging.getLogger("dsn_core.fanout")

NO_ADDRESS = "no address on this channel"
OPTED_OUT = "opted out"
NOT_INSTALLED = "messenger not installed"
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


def _opted_out(user_ids: list[Any], subscription: Subscription, messenger: str) -> set[Any]:
    if subscription.critical or not user_ids:
        return set()
    rows = OptOut.objects.filter(user_id__in=user_ids).filter(
        Q(messenger=messenger, subscription=None)
        | Q(messenger="", subscription=subscription)
        | Q(messenger=messenger, subscription=subscription)
        | Q(messenger="", subscription=None)
    )
    return set(rows.values_list("user_id", flat=True))


def _deliveries_for_users(
    notification: Notification, subscription: Subscription, backend: Backend, user_ids: list[Any]
) -> list[Delivery]:
    user_model = get_user_model()
    cls = get_messenger_class(backend.messenger)
    base = dict(notification=notification, subscription=subscription, backend=backend, messenger=backend.messenger)
    rows: list[Delivery] = []
    messenger = None
    if cls is not None:
        try:
            messenger = cls(backend.options)
        except Exception:
            logger.exception("DSN backend %s has invalid options; its deliveries wait for a fix", backend.pk)
    if messenger is None:
        # Keep them pending with a placeholder address: they fail ("not installed", "bad
        # options") at send time, and the address is looked up again when they are retried.
        for pk in user_ids:
            rows.append(Delivery(recipient_id=pk, address=f"{PLACEHOLDER}{pk}", **base))
        return rows
    users = list(user_model._default_manager.filter(pk__in=user_ids))
    addresses = messenger.addresses_for(users)
    opted_out = _opted_out(user_ids, subscription, backend.messenger)
    for user in users:
        address = addresses.get(user.pk)
        if user.pk in opted_out:
            rows.append(Delivery(recipient=user, address=address or f"{PLACEHOLDER}{user.pk}",
                                 status=Delivery.Status.SKIPPED, last_error=OPTED_OUT, **base))
        elif not address:
            rows.append(Delivery(recipient=user, address=f"{PLACEHOLDER}{user.pk}", status=Delivery.Status.SKIPPED,
                                 last_error=NO_ADDRESS, **base))
        else:
            rows.append(Delivery(recipient=user, address=address, **base))
    return rows


def fan_out(notification_id: int) -> int:
    """Create the deliveries of one notification and enqueue their sending.

    Returns how many delivery rows this run created (0 when already fanned out).
    """
    from .tasks import enqueue_send

    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None or notification.fanned_out_at is not None:
        return 0
    event = Event.from_context(notification.context)
    chunk = int(conf.get("FANOUT_CHUNK"))
    existing = Delivery.objects.filter(notification=notification).count()
    backends_used: set[int] = set()
    subscriptions = Subscription.objects.filter(trigger_id=notification.trigger_id, enabled=True).prefetch_related(
        "backends"
    )
    for subscription in subscriptions:
        backends = list(subscription.backends.all())
        if not backends:
            continue
        user_ids = receiver_user_ids(subscription, event)
        for backend in backends:
            backends_used.add(backend.pk)
            for ids in _chunks(user_ids, chunk):
                rows = _deliveries_for_users(notification, subscription, backend, ids)
                Delivery.objects.bulk_create(rows, ignore_conflicts=True)
            fixed = (subscription.fixed_addresses or {}).get(backend.messenger, [])
            if fixed:
                rows = [
                    Delivery(notification=notification, subscription=subscription, backend=backend,
                             messenger=backend.messenger, address=address)
                    for address in fixed
                ]
                Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    created = Delivery.objects.filter(notification=notification).count() - existing
    Notification.objects.filter(pk=notification.pk).update(fanned_out_at=timezone.now())
    for backend_id in sorted(backends_used):
        pending = Delivery.objects.filter(
            notification=notification, backend_id=backend_id, status=Delivery.Status.PENDING
        ).count()
        if pending:
            enqueue_send(backend_id, notification.pk, pending)
    logger.debug("DSN fanned out notification %s into %s deliveries", notification.pk, created)
    return created
