"""The inbox's URL patterns, mounted under the site's ``include("dsn_core.urls")`` by the plugin hook."""

from __future__ import annotations

from django.urls import URLPattern, path


def patterns() -> list[URLPattern]:
    from . import api, sse, views

    return [
        path("inbox/", views.inbox, name="dsn_inbox"),
        path("inbox/stream/", sse.stream, name="dsn_inbox_stream"),
        path("inbox/api/items/", api.items, name="dsn_inbox_api_items"),
        path("inbox/api/unread/", api.unread, name="dsn_inbox_api_unread"),
        path("inbox/api/items/<int:pk>/read/", api.mark_read, name="dsn_inbox_api_read"),
        path("inbox/api/items/<int:pk>/unread/", api.mark_unread, name="dsn_inbox_api_unread_one"),
        path("inbox/api/items/<int:pk>/archive/", api.archive, name="dsn_inbox_api_archive"),
        path("inbox/api/read-all/", api.read_all, name="dsn_inbox_api_read_all"),
    ]
