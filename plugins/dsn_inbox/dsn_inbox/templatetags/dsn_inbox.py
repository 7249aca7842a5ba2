"""Template tags: ``{% load dsn_inbox %}`` then ``{% dsn_inbox_badge %}`` or ``{% dsn_inbox %}``.

Both render plain HTML that works without JavaScript (a link to the full-page inbox with the
unread count, counted when the page is rendered) and load ``dsn_inbox/inbox.js``, which makes
them live. Nothing is rendered for anonymous visitors. Style them with your own CSS: the
classes are ``dsn-inbox-*`` and there is no stylesheet to override.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.middleware.csrf import get_token
from django.urls import NoReverseMatch, reverse

from .. import reading

register = template.Library()


def _urls() -> dict[str, str] | None:
    try:
        return {
            "page": reverse("dsn_core:dsn_inbox"),
            "stream": reverse("dsn_core:dsn_inbox_stream"),
            "unread": reverse("dsn_core:dsn_inbox_api_unread"),
            "items": reverse("dsn_core:dsn_inbox_api_items"),
            "read_all": reverse("dsn_core:dsn_inbox_api_read_all"),
        }
    except NoReverseMatch:  # dsn_core.urls is not included in the site's URLconf
        return None


def _base(context: template.Context) -> dict[str, Any] | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    urls = _urls()
    if request is None or user is None or not user.is_authenticated or urls is None:
        return None
    return {"urls": urls, "unread": reading.unread_count(user.pk)}


@register.inclusion_tag("dsn_inbox/badge.html", takes_context=True)
def dsn_inbox_badge(context: template.Context) -> dict[str, Any]:
    """A link to the inbox with the live unread count (one index-only count query)."""
    return {"inbox": _base(context)}


@register.inclusion_tag("dsn_inbox/dropdown.html", takes_context=True)
def dsn_inbox(context: template.Context, size: int = 5) -> dict[str, Any]:
    """The badge as a button opening a list of the newest items, with mark-read buttons."""
    base = _base(context)
    if base is not None:
        base["items"] = reading.page(context["request"].user.pk, size=size).items
        base["csrf"] = get_token(context["request"])  # the dropdown's buttons POST
    return {"inbox": base}
