"""Signals sent by dsn-sms."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent when Twilio reports a message's status through the status callback.
#: Keyword arguments: ``delivery`` (the :class:`dsn_core.models.Delivery`, or ``None`` when
#: no delivery has this message SID), ``message_sid``, ``status`` (Twilio's ``MessageStatus``:
#: queued, sent, delivered, undelivered, failed, ...), ``error_code`` (``int`` or ``None``)
#: and ``payload`` (every field Twilio posted, as a dict).
status_received = Signal()
