"""Delivery receipts: what a provider reports later about a message it accepted.

A delivery is ``sent`` when the provider accepted the message. Some providers tell us later
whether it really arrived: Twilio's status callback, an email service's tracking webhook
(through django-anymail). A channel plugin passes such a report to :func:`record_receipt`,
which stores it on the delivery (``receipt``, ``receipt_detail``, ``receipt_at``), and the
site hears about it through the :data:`dsn_core.signals.delivery_receipt` signal and the
``delivery_receipt`` plugin hook.

A receipt never changes the delivery's ``status``: DSN's part ended when the provider
accepted the message. Reports can arrive out of order, so a weaker one never replaces a
stronger one (``delivered`` < ``undelivered`` = ``bounced`` < ``complained``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .addresses import deactivate
from .models import Delivery, OptOut

logger = logging.getLogger("dsn_core.receipts")

Receipt = Delivery.Receipt

#: Later reports of lower rank do not overwrite earlier ones of higher rank.
RANK: dict[str, int] = {Receipt.DELIVERED: 1, Receipt.UNDELIVERED: 2, Receipt.BOUNCED: 2, Receipt.COMPLAINED: 3}


def find_delivery(messenger: str, *, provider_id: str = "", delivery_id: Any = None) -> Delivery | None:
    """The delivery a report is about: by DSN's delivery id when the provider echoes it back
    (metadata), else by the provider's message id (the newest delivery that has it)."""
    rows = Delivery.objects.filter(messenger=messenger)
    if delivery_id not in (None, ""):
        try:
            found = rows.filter(pk=int(delivery_id)).first()
        except (TypeError, ValueError):
            found = None
        if found is not None and (not provider_id or found.provider_id in ("", provider_id)):
            return found
    if provider_id:
        # exclude() lets the database use the partial index dsn_delivery_provider.
        return rows.exclude(provider_id="").filter(provider_id=provider_id).order_by("-pk").first()
    return None


def record_receipt(
    messenger: str,
    receipt: str,
    *,
    provider_id: str = "",
    delivery_id: Any = None,
    detail: str = "",
    at: datetime | None = None,
    deactivate_address: bool = False,
    opt_out: bool = False,
) -> Delivery | None:
    """Record a provider's report on the delivery it is about; return that delivery, or ``None``.

    ``receipt`` is one of :class:`Delivery.Receipt <dsn_core.models.Delivery.Receipt>`'s values.
    The delivery is found by ``delivery_id`` (when the provider echoes DSN's metadata back) or
    ``provider_id`` (the id :class:`~dsn_core.messengers.SendResult` returned). ``detail`` is a
    short reason (an error code, a bounce description); it must not hold secrets.

    ``deactivate_address``: the address can never receive (a dead phone number, a hard bounce):
    mark it inactive in the address book. ``opt_out``: the person asked not to get these
    messages (a spam complaint): record an opt-out of this messenger for the recipient, which
    critical subscriptions still override.

    Unknown messages are logged and ignored (a provider may report on mail DSN did not send).
    Observers are called after the change is committed; their errors are logged.
    """
    if receipt not in RANK:
        raise ValueError(f"unknown receipt {receipt!r}; expected one of {', '.join(RANK)}")
    with transaction.atomic():
        delivery = find_delivery(messenger, provider_id=provider_id, delivery_id=delivery_id)
        if delivery is None:
            logger.info(
                "DSN %s receipt %r for an unknown message (%s) ignored",
                messenger,
                receipt,
                provider_id or f"delivery {delivery_id}",
            )
            return None
        # One conditional UPDATE: it applies only over no receipt or one that is not stronger,
        # so two reports arriving at once cannot let the weaker one win.
        replaceable = ["", *(r for r in RANK if RANK[r] <= RANK[receipt])]
        fields = {"receipt": receipt, "receipt_detail": detail[:255], "receipt_at": at or timezone.now()}
        if not Delivery.objects.filter(pk=delivery.pk, receipt__in=replaceable).update(
            **fields, updated_at=timezone.now()
        ):
            logger.info("DSN delivery %s: %r after a stronger receipt; the earlier one is kept", delivery.pk, receipt)
            return delivery
        for name, value in fields.items():
            setattr(delivery, name, value)
        if deactivate_address and delivery.address:
            deactivate(messenger, delivery.address)
        if opt_out and delivery.recipient_id is not None:
            OptOut.objects.get_or_create(user_id=delivery.recipient_id, messenger=messenger, subscription=None)
        transaction.on_commit(lambda: _announce(delivery, receipt, detail), robust=True)
    return delivery


def _announce(delivery: Delivery, receipt: str, detail: str) -> None:
    from . import signals
    from .plugins import call_observers

    call_observers("delivery_receipt", delivery=delivery, receipt=receipt, detail=detail)
    signals.delivery_receipt.send(Delivery, delivery=delivery, receipt=receipt, detail=detail)
