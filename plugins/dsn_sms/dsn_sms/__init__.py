"""dsn-sms: the ``sms`` messenger for DSN, sending text messages through Twilio."""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("dsn-sms")  # one source: dsn_core/__init__.py, through the build
