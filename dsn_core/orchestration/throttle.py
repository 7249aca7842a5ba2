"""Throttles: at most N messages per recipient per fixed window, counted in the database.

Each (key, window) has one :class:`~dsn_core.orchestration.models.ThrottleCount` row; taking a
slot is one conditional ``UPDATE ... SET count = count + 1 WHERE count < limit``, atomic on
SQLite and PostgreSQL, so workers in any number of processes share one count. Each message's
answer is kept as a :class:`~dsn_core.orchestration.models.ThrottleGrant` (unique per event,
subscription and backend), so a fan-out that runs twice for the same event counts it once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from .models import SubscriptionPolicy, ThrottleCount, ThrottleGrant

THROTTLED = "throttled"


def window_start(now: datetime, minutes: int) -> int:
    """The epoch second at which the fixed window holding ``now`` began."""
    width = max(1, minutes) * 60
    epoch = int(now.timestamp())
    return epoch - epoch % width


def throttle_key(policy: SubscriptionPolicy, messenger: str, recipient_id: Any, address: str, now: datetime) -> str:
    """The counter's key: per subscription or per channel, per recipient, per window."""
    who = f"u{recipient_id}" if recipient_id is not None else f"a{address}"
    if policy.throttle_scope == SubscriptionPolicy.Scope.CHANNEL:
        scope = f"c:{messenger}"
    else:
        scope = f"s:{policy.subscription_id}"
    return f"{scope}:{who}:{window_start(now, policy.throttle_minutes)}"[:255]


def take(key: str, limit: int, expires_at: datetime) -> bool:
    """Take one slot of ``key``; ``False`` when its ``limit`` is used up."""
    if limit <= 0:
        return False
    if ThrottleCount.objects.filter(key=key, count__lt=limit).update(count=F("count") + 1):
        return True
    if ThrottleCount.objects.filter(key=key).exists():
        return False
    try:
        with transaction.atomic():
            ThrottleCount.objects.create(key=key, count=1, expires_at=expires_at)
        return True
    except IntegrityError:  # another process created it first: count against its row
        return bool(ThrottleCount.objects.filter(key=key, count__lt=limit).update(count=F("count") + 1))


def allow(
    policy: SubscriptionPolicy, notification_id: int, backend: Any, recipient_id: Any, address: str, now: datetime
) -> bool:
    """Whether this event's message to this recipient fits the policy's throttle (counting it once)."""
    if not policy.throttle_limit:
        return True
    key = throttle_key(policy, backend.messenger, recipient_id, address, now)
    expires = datetime.fromtimestamp(window_start(now, policy.throttle_minutes), tz=now.tzinfo) + timedelta(
        minutes=policy.throttle_minutes
    )
    identity = {
        "key": key,
        "notification_id": notification_id,
        "subscription_id": policy.subscription_id,
        "backend_id": backend.pk,
    }
    with transaction.atomic():
        try:
            with transaction.atomic():
                grant = ThrottleGrant.objects.create(**identity, expires_at=expires)
        except IntegrityError:  # this event was counted by an earlier (or concurrent) fan-out
            return bool(ThrottleGrant.objects.filter(**identity).values_list("allowed", flat=True).first())
        allowed = take(key, policy.throttle_limit, expires)
        if allowed:
            ThrottleGrant.objects.filter(pk=grant.pk).update(allowed=True)
    return allowed


def forget_expired(now: datetime) -> int:
    """Delete counters and answers of windows that have ended."""
    return (
        ThrottleCount.objects.filter(expires_at__lt=now).delete()[0]
        + ThrottleGrant.objects.filter(expires_at__lt=now).delete()[0]
    )
