"""DSN: send messages when Django signals fire.

Plugin authors need only this import::

    from dsn_core import hookimpl

Everything else a plugin uses is documented in :mod:`dsn_core.hookspecs`.
"""

from __future__ import annotations

import pluggy

__version__ = "0.3.0"

#: Decorator for plugin hook implementations (``@hookimpl``).
hookimpl = pluggy.HookimplMarker("dsn")

__all__ = ["__version__", "hookimpl"]
