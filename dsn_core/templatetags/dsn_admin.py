"""Template tags for DSN's admin pages."""

from __future__ import annotations

from django import template

from ..plugins import broken

register = template.Library()


@register.simple_tag
def dsn_broken_plugin_names() -> str:
    """The names of the plugins left out because they are broken, comma-separated ("" if none)."""
    return ", ".join(sorted(broken()))
