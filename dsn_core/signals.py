"""Django signals that DSN sends (for sites that prefer signals to plugin hooks)."""

from django.dispatch import Signal

#: Sent once when a delivery gives up for good. Arguments: ``delivery``.
delivery_dead = Signal()

#: Sent after every recorded attempt. Arguments: ``delivery``, ``status``, ``error``.
delivery_finished = Signal()

#: Sent when a provider reports what happened to a sent message (see :mod:`dsn_core.receipts`).
#: Arguments: ``delivery``, ``receipt`` (``delivered``, ``undelivered``, ``bounced``,
#: ``complained``), ``detail``.
delivery_receipt = Signal()
