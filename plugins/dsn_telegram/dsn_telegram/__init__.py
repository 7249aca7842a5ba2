"""dsn-telegram: the Telegram messenger for DSN, and linking a Telegram chat to a user."""

from __future__ import annotations

__version__ = "0.3.0"

__all__ = ["__version__"]
