"""Reading DSN's settings: one ``DSN`` dict, with a sub-dict per plugin.

Use :func:`setting` in plugins, so every missing secret produces the same clear error::

    token = setting("TELEGRAM", "BOT_TOKEN", env="DSN_TELEGRAM_BOT_TOKEN")
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Seconds between checks for configuration edits made by other processes.
    "RELOAD_INTERVAL": 0.5,
    # Start the background reload thread (off in tests: edits in-process apply at once).
    "AUTO_RELOAD": True,
    # Task backend alias and queue used for DSN's tasks.
    "TASK_BACKEND": "default",
    "QUEUE": "default",
    # Retry policy: exponential backoff with full jitter.
    "RETRY_BASE": 10.0,
    "RETRY_CAP": 3600.0,
    "MAX_ATTEMPTS": 8,
    # ... and a time budget: a delivery that keeps failing is given up only once it has had
    # MAX_ATTEMPTS attempts *and* is older than this many seconds (24 h), so an outage of
    # minutes or hours never kills deliveries. 0: attempts alone decide.
    "RETRY_FOR": 86400.0,
    # Seconds one provider call (``open``, one ``send_batch``, ``close``) may take before the core
    # gives up on it and records a transient error; a messenger's ``send_timeout`` overrides it.
    # The call runs on a helper thread, so a provider that never answers cannot hang a worker.
    # 0 or None: calls run inline, unbounded.
    "SEND_TIMEOUT": 60.0,
    # A delivery stuck in "sending" longer than this is re-queued by the sweeper.
    "LEASE_SECONDS": 300.0,
    # Rate-limit slots are this much wider than per/count (absorbs scheduling jitter).
    "RATE_LIMIT_MARGIN": 0.02,
    # Seconds a fan-out pump waits, so a burst of events costs one task (0: one task per event).
    "FANOUT_DELAY": 0.2,
    # Send tasks enqueued at most per backend and notification (they share the work).
    "PARALLEL_SENDS": 4,
    # How many deliveries one fan-out chunk creates.
    "FANOUT_CHUNK": 2000,
    # A fan-out task sends the first chunk of each backend whose provider deduplicates itself
    # (written already claimed: no send task, no second write to take them); the rest goes to
    # send tasks at once. False: every delivery waits for a send task.
    "SEND_FROM_FANOUT": True,
    # Absolute base URL of the site (for unsubscribe links in messages).
    "BASE_URL": "",
    # Attribute of the user model holding their language, for per-recipient rendering.
    "USER_LANGUAGE_ATTRIBUTE": "",
    "PLUGINS": None,
    "BLOCK_PLUGINS": [],
    # A broken plugin is a check error instead of a warning (for CI; env DSN_STRICT_PLUGINS).
    "STRICT_PLUGINS": False,
    # Days to keep finished notifications and their deliveries (None: forever). The sweeper
    # prunes older ones; ``manage.py dsn_prune`` does it on demand.
    "RETENTION_DAYS": None,
    # More words that make a field secret to templates and snapshots (see dsn_core.redaction).
    "SECRET_FIELD_WORDS": (),
}

_MISSING = object()


_cache: tuple[object, dict[str, Any]] | None = None


def dsn_settings() -> dict[str, Any]:
    """The ``DSN`` setting merged over the defaults.

    Cached while ``settings.DSN`` is the same object (and reset by ``setting_changed``), so
    the sending loop can read settings per message for free.
    """
    global _cache
    raw = getattr(settings, "DSN", None)
    cached = _cache
    if cached is not None and cached[0] is raw:
        return cached[1]
    merged = dict(DEFAULTS)
    merged.update(raw or {})
    _cache = (raw, merged)
    return merged


def _settings_changed(setting: str, **kwargs: Any) -> None:
    global _cache
    if setting == "DSN":
        _cache = None


setting_changed.connect(_settings_changed, dispatch_uid="dsn_core.conf")


def get(name: str) -> Any:
    """One top-level DSN setting (with its default)."""
    return dsn_settings()[name]


def setting(section: str, name: str, *, env: str | None = None, default: Any = _MISSING) -> Any:
    """Read ``DSN[section][name]``, falling back to the environment variable ``env``.

    Raises ``ImproperlyConfigured`` naming exactly what to set when it is missing and no
    default is given. The value itself never appears in the message.
    """
    section_dict = dsn_settings().get(section) or {}
    if name in section_dict and section_dict[name] not in (None, ""):
        return section_dict[name]
    if env and os.environ.get(env):
        return os.environ[env]
    if default is not _MISSING:
        return default
    where = f'settings.DSN["{section}"]["{name}"]'
    if env:
        where += f" or the environment variable {env}"
    raise ImproperlyConfigured(f"DSN: set {where}.")
