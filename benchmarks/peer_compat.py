"""Make django-notifications-hq importable on Django >= 5.1 (see settings_peer)."""

from __future__ import annotations


def allow_index_together() -> bool:
    """Let model Meta classes carry ``index_together`` again; return whether it was needed."""
    from django.db.models import options

    if "index_together" in options.DEFAULT_NAMES:
        return False
    options.DEFAULT_NAMES = (*options.DEFAULT_NAMES, "index_together")
    return True
