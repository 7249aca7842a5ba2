"""Throttles: at most N messages per recipient per fixed window, counted in the database.

Each (key, window) has one :class:`~dsn_core.orchestration.models.ThrottleCount` row; taking a
slot is one conditional ``UPDATE ... SET count = count + 1 WHERE count < limit``, atomic on
SQLite and PostgreSQL, so workers in any number of processes share one count.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from .models import SubscriptionPolicy, ThrottleCount

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


def allow(policy: SubscriptionPolicy, messenger: str, recipient_id: Any, address: str, now: datetime) -> bool:
    """Whether one more message to this recipient fits the policy's throttle (and count it)."""
    if not policy.throttle_limit:
        return True
    key = throttle_key(policy, messenger, recipient_id, address, now)
    expires = datetime.fromtimestamp(window_start(now, policy.throttle_minutes), tz=now.tzinfo) + timedelta(
        minutes=policy.throttle_minutes
    )
    return take(key, policy.throttle_limit, expires)


def forget_expired(now: datetime) -> int:
    """Delete counters of windows that have ended."""
    return ThrottleCount.objects.filter(expires_at__lt=now).delete()[0]
