"""Fallback chains and each person's preferred channel.

A subscription routed as a *chain* tries its backends in the order of its fallback steps:
fan-out writes a delivery on the first backend the recipient has an address on (a skipped
row for each one before it); when a delivery ends ``dead`` -- or, if the policy says so, a
receipt reports it ``undelivered`` or ``bounced`` -- the next backend gets a new delivery
linked to it (``Delivery.fallback_of``), so the log shows the chain. Routed by *preference*,
the person's own channel order (:class:`~dsn_core.orchestration.models.DeliveryPreference`)
comes first, then the chain; critical subscriptions ignore preferences.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction

from .models import DeliveryPreference, SubscriptionPolicy

logger = logging.getLogger("dsn_core.orchestration.fallback")
R = SubscriptionPolicy.Routing


def chain_for(
    subscription: Any,
    policy: SubscriptionPolicy,
    backends: Sequence[Any],
    positions: dict[int, int],
    preference: DeliveryPreference | None,
) -> list[Any]:
    """The backends in the order this recipient tries them."""
    ordered = sorted(backends, key=lambda b: (positions.get(b.pk, 1 << 15), b.name, b.pk))
    if policy.routing == R.PREFERRED and preference is not None and not subscription.critical:
        rank = {key: i for i, key in enumerate(preference.channels)}
        ordered.sort(key=lambda b: rank.get(b.messenger, len(rank)))  # stable: the chain breaks ties
    return ordered


def positions_of(subscription: Any) -> dict[int, int]:
    """Backend id -> position in the subscription's fallback steps."""
    from .models import FallbackStep

    return dict(FallbackStep.objects.filter(subscription=subscription).values_list("backend_id", "position"))


def _address(backend: Any, user: Any) -> tuple[str, str]:
    """(address, reason it cannot be used) of ``user`` on ``backend``."""
    from ..fanout import NO_ADDRESS
    from ..plugins import get_messenger_class

    cls = get_messenger_class(backend.messenger)
    if cls is None:
        return "", f"messenger {backend.messenger!r} not installed"
    try:
        address = cls(backend.options).addresses_for([user]).get(user.pk)
    except Exception as exc:
        return "", f"{type(exc).__name__}: {exc}"
    if not address:
        return "", NO_ADDRESS
    return address, ""


def next_step(delivery: Any, why: str) -> Any:
    """Write the chain's next delivery after ``delivery`` failed (``why``); return it, or ``None``."""
    from ..fanout import OPTED_OUT, PLACEHOLDER, _opt_outs
    from ..models import Delivery, Subscription

    if delivery.subscription_id is None or delivery.recipient_id is None or delivery.backend_id is None:
        return None
    policy = SubscriptionPolicy.objects.filter(subscription_id=delivery.subscription_id).first()
    if policy is None or policy.routing == R.ALL:
        return None
    subscription = Subscription.objects.filter(pk=delivery.subscription_id).prefetch_related("backends").first()
    user = delivery.recipient
    if subscription is None or user is None:
        return None
    preference = DeliveryPreference.objects.filter(user_id=user.pk).first()
    order = chain_for(subscription, policy, list(subscription.backends.all()), positions_of(subscription), preference)
    ids = [b.pk for b in order]
    if delivery.backend_id not in ids:
        return None
    previous = delivery
    for backend in order[ids.index(delivery.backend_id) + 1 :]:
        address, problem = _address(backend, user)
        if (
            not problem
            and not subscription.critical
            and _opt_outs(subscription, backend.messenger).filter(user_id=user.pk).exists()
        ):
            problem = OPTED_OUT
        status = Delivery.Status.SKIPPED if problem else Delivery.Status.PENDING
        try:
            with transaction.atomic():
                step = Delivery.objects.create(
                    notification_id=delivery.notification_id,
                    subscription=subscription,
                    backend=backend,
                    messenger=backend.messenger,
                    recipient=user,
                    address=address or f"{PLACEHOLDER}{user.pk}",
                    status=status,
                    last_error=problem,
                    fallback_of=previous,
                )
        except IntegrityError:  # this step exists already (a second report of the same failure)
            return None
        logger.info("DSN delivery %s (%s) falls back to %s: delivery %s", previous.pk, why, backend.messenger, step.pk)
        if status == Delivery.Status.PENDING:
            _enqueue(backend.pk, delivery.notification_id)
            return step
        previous = step
    return None


def _enqueue(backend_id: int, notification_id: int) -> None:
    from ..tasks import enqueue_send

    transaction.on_commit(lambda: enqueue_send(backend_id, notification_id, 1), robust=True)


def on_dead(sender: Any, delivery: Any, **kwargs: Any) -> None:
    """``delivery_dead`` receiver: a dead step hands the event to the next channel."""
    try:
        next_step(delivery, "dead")
    except Exception:
        logger.exception("DSN could not fall back from delivery %s", delivery.pk)


def on_receipt(sender: Any, delivery: Any, receipt: str, **kwargs: Any) -> None:
    """``delivery_receipt`` receiver: ``undelivered``/``bounced`` falls back when the policy says so."""
    if receipt not in ("undelivered", "bounced") or delivery.subscription_id is None:
        return
    try:
        if SubscriptionPolicy.objects.filter(
            subscription_id=delivery.subscription_id, fallback_on_receipt=True, routing__in=[R.CHAIN, R.PREFERRED]
        ).exists():
            next_step(delivery, receipt)
    except Exception:
        logger.exception("DSN could not fall back from delivery %s", delivery.pk)


def connect() -> None:
    """Listen to the delivery outcomes that move a chain on (called once, from the app config)."""
    from .. import signals

    signals.delivery_dead.connect(on_dead, dispatch_uid="dsn_orchestration_fallback_dead")
    signals.delivery_receipt.connect(on_receipt, dispatch_uid="dsn_orchestration_fallback_receipt")
