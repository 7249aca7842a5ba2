"""DSN: send messages when Django signals fire.

Plugin authors import everything from one module, the published API::

    from dsn_core.api import Messenger, SendResult, hookimpl

The hooks are specified (and documented) in :mod:`dsn_core.hookspecs`.
"""

from __future__ import annotations

import pluggy

__version__ = "0.3.0"

#: Decorator for plugin hook implementations (``@hookimpl``); also exported by :mod:`dsn_core.api`.
hookimpl = pluggy.HookimplMarker("dsn")

__all__ = ["__version__", "hookimpl"]
