"""A rate limiter shared by every worker process, kept in the database.

It implements GCRA ("virtual scheduling") with reservations: each message reserves the
next free slot of every limit that applies (one atomic UPDATE per limit) and waits until
the latest of them. Slots are ``per / count`` seconds apart, stretched by
``DSN["RATE_LIMIT_MARGIN"]`` (2 %) to absorb late wake-ups, so no window of ``per``
seconds holds more than ``count`` messages, across all processes together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When

from .models import RateState

#: Replaced in tests to observe waits without sleeping.
sleep: Callable[[float], None] = time.sleep
clock: Callable[[], float] = time.time


def reserve(key: str, interval: float, now: float | None = None) -> float:
    """Reserve the next slot of ``key``; return the epoch time at which it starts."""
    now = clock() if now is None else now
    for _ in range(3):
        with transaction.atomic():
            updated = RateState.objects.filter(key=key).update(
                tat=Case(When(tat__gt=now, then=F("tat")), default=Value(now)) + interval
            )
            if updated:
                tat = RateState.objects.filter(key=key).values_list("tat", flat=True).get()
                return tat - interval
            try:
                with transaction.atomic():
                    RateState.objects.create(key=key, tat=now + interval)
                return now
            except IntegrityError:
                continue
    raise RuntimeError(f"could not reserve a slot for {key}")


def wait_for_turn(messenger: Any, address: str) -> float:
    """Block until ``messenger`` may send to ``address``; return the seconds waited."""
    limits = messenger.rate_limits_for(address)
    if not limits:
        return 0.0
    from .conf import get

    # Slots a little wider than per/count: a worker that wakes late and then one that wakes on
    # time would otherwise put count + 1 messages in some window of ``per`` seconds.
    stretch = 1.0 + float(get("RATE_LIMIT_MARGIN"))
    start = 0.0
    with transaction.atomic():  # one transaction for all the limits of this message
        for limit in limits:
            key = f"{messenger.key}:*" if limit.scope == "messenger" else f"{messenger.key}:{address}"
            key = f"{key}:{limit.count}/{limit.per:g}"
            start = max(start, reserve(key, limit.per / limit.count * stretch))
    delay = start - clock()
    if delay > 0:
        sleep(delay)
        return delay
    return 0.0


__all__ = ["reserve", "wait_for_turn"]


def forget_idle(older_than: float = 60.0) -> int:
    """Delete limiter rows whose next free slot passed long ago (a missing row means "free
    now"), so per-address limits do not leave one row per address forever. Returns count."""
    deleted, _ = RateState.objects.filter(tat__lt=clock() - older_than).delete()
    return deleted
