"""dsn-sms: the ``sms`` messenger for DSN, sending text messages through Twilio."""

from __future__ import annotations

__version__ = "0.3.0"
