"""DSN not installed: no ``dsn_core`` in INSTALLED_APPS, so none of its receivers exist."""

from benchmarks.settings_base import *  # noqa: F403
