"""dsn-inbox: in-site notifications for DSN (an inbox per user and a live unread badge)."""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("dsn-inbox")  # one source: dsn_core/__init__.py, through the build
