"""Quiet hours: a person's daily span (e.g. 22:00-07:00 in their time zone) without messages.

Non-critical messages of subscriptions that respect quiet hours wait until the span ends,
or go into the subscription's next digest (:mod:`.routing`).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any


def _inside(clock: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # the span crosses midnight


def quiet_until(preference: Any, now: datetime) -> datetime | None:
    """When the person's quiet hours end, if ``now`` (aware) falls inside them; else ``None``."""
    if preference is None or preference.quiet_start is None or preference.quiet_end is None:
        return None
    zone = preference.zone()
    local = now.astimezone(zone)
    start, end = preference.quiet_start, preference.quiet_end
    if not _inside(local.time().replace(tzinfo=None), start, end):
        return None
    day = local.date()
    if local.time().replace(tzinfo=None) >= end:  # before midnight in a span that ends tomorrow
        day = day + timedelta(days=1)
    # Wall-clock arithmetic in the person's zone, so a DST change that night is respected.
    return datetime.combine(day, end, tzinfo=zone)
