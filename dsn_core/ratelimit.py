"""A rate limiter shared by every worker process, kept in the database.

It implements GCRA ("virtual scheduling") with reservations. Each message reserves one slot
on every limit that applies to it, in one transaction, and waits until that slot comes. Slots
are ``per / count`` seconds apart, stretched by ``DSN["RATE_LIMIT_MARGIN"]`` (2 %), so no
window of ``per`` seconds holds more than ``count`` messages, across all processes together.

Two rules keep the schedule honest about when messages really leave:

* a message under several limits (Telegram: 30/s per bot and 1/s per chat) takes the *same*
  start on all of them, the earliest that every limit allows, so no limit's schedule records a
  slot that the message did not use;
* a message that goes out late (a slow commit, a late wake-up on a busy machine) by more than
  half of what the margin leaves per window (10 ms for a limit per second) moves every schedule
  it belongs to by its lateness, so the messages after it keep their spacing from the moment it
  really went out. Smaller lateness is what the margin absorbs, without a write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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


def reserve_all(intervals: dict[str, float], now: float | None = None) -> float:
    """Reserve one common slot on every key of ``intervals`` (key -> seconds between slots).

    The slot starts at the earliest time every key allows; each key's next free slot becomes
    that start plus its own interval. Returns the start (epoch seconds). One key is
    :func:`reserve`; several lock their rows (in key order, so two workers cannot deadlock),
    read them and write them back in one transaction.
    """
    if len(intervals) == 1:
        [(key, interval)] = intervals.items()
        return reserve(key, interval, now)
    now = clock() if now is None else now
    keys = sorted(intervals)
    with transaction.atomic():
        # A write first: it locks the rows on PostgreSQL and takes SQLite's write lock, so the
        # read below cannot be overtaken by another worker's reservation.
        if _lock(keys) < len(keys):
            RateState.objects.bulk_create([RateState(key=k, tat=0.0) for k in keys], ignore_conflicts=True)
            _lock(keys)
        tats = dict(RateState.objects.filter(key__in=keys).values_list("key", "tat"))
        start = max([now, *tats.values()])
        for key in keys:
            RateState.objects.filter(key=key).update(tat=start + intervals[key])
    return start


def _lock(keys: Sequence[str]) -> int:
    return RateState.objects.filter(key__in=keys).update(tat=F("tat"))


def late_after(limits: Sequence[Any], margin: float) -> float:
    """Seconds a message may leave after its slot without moving the schedule: half of what
    the margin adds to the shortest window (``per * margin / 2``; 10 ms for 1 s at 2 %)."""
    return min(limit.per for limit in limits) * margin / 2


def wait_for_turn(messenger: Any, address: str) -> float:
    """Block until ``messenger`` may send to ``address``; return the seconds waited.

    Call it right before the provider call: a return later than the reserved slot (by more
    than :func:`late_after`) moves the schedules by the lateness before returning.
    """
    limits = messenger.rate_limits_for(address)
    if not limits:
        return 0.0
    from .conf import get

    # Slots a little wider than per/count: scheduling jitter between two messages (one sent a
    # little late, the next on time) would otherwise put count + 1 messages in some window.
    margin = float(get("RATE_LIMIT_MARGIN"))
    stretch = 1.0 + margin
    intervals: dict[str, float] = {}
    for limit in limits:
        key = f"{messenger.key}:*" if limit.scope == "messenger" else f"{messenger.key}:{address}"
        key = f"{key}:{limit.count}/{limit.per:g}"
        intervals[key] = min(intervals.get(key, float("inf")), limit.per / limit.count * stretch)
    start = reserve_all(intervals)
    delay = start - clock()
    if delay > 0:
        sleep(delay)
    late = clock() - start
    if late > late_after(limits, margin):
        # The message leaves ``late`` seconds after its slot: push what follows by as much.
        RateState.objects.filter(key__in=list(intervals)).update(tat=F("tat") + late)
    return max(delay, 0.0)


def forget_idle(older_than: float = 60.0) -> int:
    """Delete limiter rows whose next free slot passed long ago (a missing row means "free
    now"), so per-address limits do not leave one row per address forever. Returns count."""
    deleted, _ = RateState.objects.filter(tat__lt=clock() - older_than).delete()
    return deleted


__all__ = ["forget_idle", "late_after", "reserve", "reserve_all", "wait_for_turn"]
