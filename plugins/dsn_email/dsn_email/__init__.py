"""dsn-email: the email channel for DSN, built on Django's mail framework."""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("dsn-email")  # one source: dsn_core/__init__.py, through the build

__all__ = ["__version__"]
