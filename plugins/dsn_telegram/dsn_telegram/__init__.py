"""dsn-telegram: the Telegram messenger for DSN, and linking a Telegram chat to a user."""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("dsn-telegram")  # one source: dsn_core/__init__.py, through the build

__all__ = ["__version__"]
