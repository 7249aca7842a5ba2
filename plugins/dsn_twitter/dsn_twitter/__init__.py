"""dsn-twitter: the ``twitter`` messenger for DSN (tweets and direct messages on X, API v2)."""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("dsn-twitter")  # one source: dsn_core/__init__.py, through the build
