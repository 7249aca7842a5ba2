"""Admin: inbox items, read-only (staff need the "view inbox item" permission).

Items are what users were told; editing them would rewrite history, and adding them by hand
bypasses DSN. Deleting stays possible for users with the delete permission (a mistaken send).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import InboxItem


@admin.register(InboxItem)
class InboxItemAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "subject", "level", "category", "verb", "created_at", "read_at", "archived_at")
    list_filter = (
        "level",
        "category",
        "verb",
        ("read_at", admin.EmptyFieldListFilter),
        ("archived_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("subject", "user__username")
    list_select_related = ("user",)
    show_full_result_count = False  # no COUNT(*) over millions of rows on every page
    date_hierarchy = None
    ordering = ("-id",)
    raw_id_fields = ("user",)
    readonly_fields = (
        "user",
        "subject",
        "text",
        "html",
        "link",
        "level",
        "category",
        "verb",
        "notification_id",
        "delivery_id",
        "created_at",
        "read_at",
        "archived_at",
    )
    exclude = ("notification", "delivery")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
