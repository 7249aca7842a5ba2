"""Fan-out for a subscription with an orchestration policy.

:func:`orchestrate` is the one call fan-out makes for such a subscription. It builds the same
rows plain fan-out would (addresses, opt-outs), then, per recipient: picks the channel
(every backend, the fallback chain, or the person's preferred order), holds the message for
quiet hours, counts it against the throttle, and puts it into the digest instead of sending
it alone. Plain rows are written by fan-out's own fast insert.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import digests, throttle
from .fallback import chain_for, positions_of
from .models import DeliveryPreference, SubscriptionPolicy
from .quiet_hours import quiet_until

logger = logging.getLogger("dsn_core.orchestration.routing")
R = SubscriptionPolicy.Routing


class _Plan:
    """What one subscription's fan-out writes: plain rows per backend, held rows, chains."""

    def __init__(self, notification: Any, subscription: Any, policy: SubscriptionPolicy, now: datetime) -> None:
        self.notification, self.subscription, self.policy, self.now = notification, subscription, policy, now
        self.plain: dict[Any, list[tuple[Any, str, str, str]]] = defaultdict(list)
        # quiet hours' end -> (backend, recipient id, address, previous step)
        self.held: dict[datetime, list[tuple[Any, Any, str, Any]]] = defaultdict(list)

    def dispatch(self, backend: Any, recipient_id: Any, address: str, preference: Any, previous: Any = None) -> None:
        """Decide what happens to one pending message: send, hold, digest, or drop."""
        from ..fanout import _PENDING, _SKIPPED

        policy, critical = self.policy, self.subscription.critical
        quiet = None
        if recipient_id is not None and policy.respect_quiet_hours and not critical:
            quiet = quiet_until(preference, self.now)
        if policy.digest:
            due = digests.due_at_for(policy, preference, self.now)
            first = policy.digest_first_immediately and quiet is None
            send_now = digests.add_event(
                policy, self.notification, backend, recipient_id, address, due, first_immediately=first
            )
            if not send_now:
                return
            if not throttle.allow(policy, self.notification.pk, backend, recipient_id, address, self.now):
                digests.add_event(policy, self.notification, backend, recipient_id, address, due)
                return
        elif not throttle.allow(policy, self.notification.pk, backend, recipient_id, address, self.now):
            if policy.throttle_overflow == SubscriptionPolicy.Overflow.DIGEST:
                due = digests.due_at_for(policy, preference, self.now)
                digests.add_event(policy, self.notification, backend, recipient_id, address, due)
            else:
                self._write(backend, recipient_id, address, _SKIPPED, throttle.THROTTLED, previous)
            return
        if quiet is not None:
            self.held[quiet].append((backend, recipient_id, address, previous))
        else:
            self._write(backend, recipient_id, address, _PENDING, "", previous)

    def _write(self, backend: Any, recipient_id: Any, address: str, status: str, error: str, previous: Any) -> Any:
        if previous is None:
            self.plain[backend].append((recipient_id, address, status, error))
            return None
        return _create(
            self.notification, self.subscription, backend, recipient_id, address, status, error, previous=previous
        )

    def flush(self) -> None:
        from ..fanout import _PENDING, insert_deliveries
        from ..models import Delivery
        from ..tasks import enqueue_send

        for backend, rows in self.plain.items():
            insert_deliveries(self.notification, self.subscription, backend, rows)
        self.plain.clear()
        for until, entries in self.held.items():
            Delivery.objects.bulk_create(
                [
                    Delivery(
                        notification=self.notification,
                        subscription=self.subscription,
                        backend=backend,
                        messenger=backend.messenger,
                        recipient_id=r,
                        address=a,
                        status=_PENDING,
                        next_attempt_at=until,
                        fallback_of=previous,
                        created_at=self.now,
                    )
                    for backend, r, a, previous in entries
                ],
                ignore_conflicts=True,
            )
            for backend_id in {backend.pk for backend, *_ in entries}:
                transaction.on_commit(
                    partial(enqueue_send, backend_id, self.notification.pk, 1, run_after=until), robust=True
                )
        self.held.clear()


def _create(
    notification: Any,
    subscription: Any,
    backend: Any,
    recipient_id: Any,
    address: str,
    status: str,
    error: str,
    previous: Any = None,
) -> Any:
    """One delivery written on its own (a chain step that links to the one before it)."""
    from ..models import Delivery

    try:
        with transaction.atomic():
            return Delivery.objects.create(
                notification=notification,
                subscription=subscription,
                backend=backend,
                messenger=backend.messenger,
                recipient_id=recipient_id,
                address=address,
                status=status,
                last_error=error,
                fallback_of=previous,
            )
    except IntegrityError:  # written by an earlier run of this fan-out
        return Delivery.objects.filter(
            notification=notification, backend=backend, address=address, resend_of=None
        ).first()


def orchestrate(
    notification: Any, subscription: Any, policy: SubscriptionPolicy, backends: list[Any], user_ids: list[Any]
) -> set[int]:
    """Fan out one subscription under its policy; return the ids of the backends used."""
    from .. import conf
    from ..fanout import _PENDING, _backend_addresses, _chunks, _opt_outs, _rows_for_users

    now = timezone.now()
    plan = _Plan(notification, subscription, policy, now)
    routed = policy.routing != R.ALL
    positions = positions_of(subscription) if routed else {}
    per_user: list[Any] = []
    for backend in backends:
        own = _backend_addresses(backend)
        for address in own:  # the backend names its destination: no person, no chain
            plan.dispatch(backend, None, address, None)
        if not own:
            per_user.append(backend)
        for address in (subscription.fixed_addresses or {}).get(backend.messenger, []):
            plan.dispatch(backend, None, address, None)
    wants_preferences = routed or policy.respect_quiet_hours or policy.digest == SubscriptionPolicy.Digest.DAILY
    for ids in _chunks(user_ids, int(conf.get("FANOUT_CHUNK"))):
        preferences = (
            {p.user_id: p for p in DeliveryPreference.objects.filter(user_id__in=ids)} if wants_preferences else {}
        )
        rows: dict[Any, dict[Any, tuple[Any, str, str, str]]] = {}
        for backend in per_user:
            may_opt_out = not subscription.critical and _opt_outs(subscription, backend.messenger).exists()
            rows[backend] = {r[0]: r for r in _rows_for_users(subscription, backend, ids, may_opt_out)}
        for user_id in ids:
            preference = preferences.get(user_id)
            if not routed:
                for backend in per_user:
                    row = rows[backend].get(user_id)
                    if row is None:
                        continue
                    if row[2] == _PENDING:
                        plan.dispatch(backend, user_id, row[1], preference)
                    else:
                        plan.plain[backend].append(row)
                continue
            previous = None
            for backend in chain_for(subscription, policy, per_user, positions, preference):
                row = rows[backend].get(user_id)
                if row is None:
                    continue
                if row[2] == _PENDING:
                    plan.dispatch(backend, user_id, row[1], preference, previous)
                    break
                # Not reachable here (no address, opted out): record it, and link the next step to it.
                previous = _create(notification, subscription, backend, user_id, row[1], row[2], row[3], previous)
        plan.flush()
    plan.flush()
    return {b.pk for b in backends}
