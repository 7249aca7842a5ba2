"""dsn-email: the email channel for DSN, built on Django's mail framework."""

from __future__ import annotations

__version__ = "0.3.0"

__all__ = ["__version__"]
