"""dsn-twitter: the ``twitter`` messenger for DSN (tweets and direct messages on X, API v2)."""

from __future__ import annotations

__version__ = "0.3.0"
