"""Orchestration: how much and where a subscription sends.

Digests (:mod:`.digests`), throttles (:mod:`.throttle`), fallback chains and each person's
preferred channel (:mod:`.fallback`) and quiet hours (:mod:`.quiet_hours`), configured on a
subscription's :class:`~dsn_core.orchestration.models.SubscriptionPolicy` and applied in the
core, so every channel gets them without code of its own. Fan-out hands a subscription with
an active policy to :func:`.routing.orchestrate`; subscriptions without one take the plain
path and pay nothing (the policy comes with the subscriptions' own query, as a join).
"""

from __future__ import annotations

from typing import Any


def policy_of(subscription: Any) -> Any:
    """The subscription's active policy, or ``None`` (no query when it was select_related)."""
    try:
        policy = subscription.policy
    except Exception:  # RelatedObjectDoesNotExist: no policy row
        return None
    return policy if policy is not None and policy.active else None
