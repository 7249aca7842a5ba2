"""Bounces, complaints and deliveries reported by an email service, through django-anymail.

A site that sends through an ESP with django-anymail and has set up anymail's tracking
webhooks (``anymail.urls``) gets each event as anymail's ``tracking`` signal. dsn-email
listens to it and records the events about messages DSN sent as receipts on their
deliveries (:func:`dsn_core.receipts.record_receipt`):

=============================  ==============  ==========================================
anymail event                  receipt         also
=============================  ==============  ==========================================
``delivered``                  ``delivered``
``bounced``                    ``bounced``     the address is marked inactive in the
                                               address book (a hard bounce)
``rejected``, ``failed``       ``undelivered``
``complained``                 ``complained``  the recipient is opted out of ``email``
                                               (critical subscriptions still reach them)
=============================  ==============  ==========================================

Other events (queued, sent, deferred, opened, clicked ...) are steps, not outcomes, and are
ignored. The delivery is found by the ``dsn_delivery`` metadata DSN attaches to every message
(most ESPs echo metadata back), else by anymail's message id, which DSN stored as the
delivery's provider id.
"""

from __future__ import annotations

import logging
from typing import Any

from dsn_core.api import Receipt, record_receipt

logger = logging.getLogger("dsn_email.webhooks")

#: anymail event type → (receipt, deactivate the address, opt the recipient out).
EVENTS: dict[str, tuple[Receipt, bool, bool]] = {
    "delivered": (Receipt.DELIVERED, False, False),
    "bounced": (Receipt.BOUNCED, True, False),
    "rejected": (Receipt.UNDELIVERED, False, False),
    "failed": (Receipt.UNDELIVERED, False, False),
    "complained": (Receipt.COMPLAINED, False, True),
}


def _detail(event: Any, esp_name: str) -> str:
    parts = [esp_name or "ESP", event.event_type]
    reason = event.reject_reason or ""
    text = event.description or event.mta_response or ""
    return ", ".join(p for p in (" ".join(parts), reason, " ".join(str(text).split())) if p)[:255]


def on_tracking(sender: Any, event: Any, esp_name: str = "", **kwargs: Any) -> None:
    """Receiver for ``anymail.signals.tracking``: record the event as a DSN receipt."""
    mapped = EVENTS.get(event.event_type)
    if mapped is None:
        return
    metadata = event.metadata or {}
    delivery_id = metadata.get("dsn_delivery") or None
    provider_id = str(event.message_id or "")
    if not delivery_id and not provider_id:
        return  # nothing to match on: not a message DSN can recognise
    receipt, dead, opt_out = mapped
    try:
        record_receipt(
            "email",
            receipt,
            provider_id=provider_id,
            delivery_id=delivery_id,
            detail=_detail(event, esp_name),
            at=event.timestamp,
            deactivate_address=dead,
            opt_out=opt_out,
        )
    except Exception:
        # Never fail anymail's webhook view because of DSN: the ESP would retry forever.
        logger.exception("DSN could not record the %s event for message %s", event.event_type, provider_id)


def connect() -> bool:
    """Listen to anymail's tracking signal when django-anymail is installed; return whether it is."""
    try:
        from anymail.signals import tracking
    except ImportError:
        return False
    tracking.connect(on_tracking, dispatch_uid="dsn_email_tracking")
    return True
