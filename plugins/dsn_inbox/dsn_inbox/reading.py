"""Reading and changing one user's inbox: the queries behind the API, the tags and the page.

Every function takes the user's primary key and touches only that user's rows, so a view
cannot read or change another user's items by passing their ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import conf
from .live import announce
from .models import UNREAD, InboxItem, InboxVersion

#: The columns a list needs (no HTML body: lists show the text; the API adds ``html`` on request).
LIST_FIELDS = ("id", "subject", "text", "link", "level", "category", "verb", "created_at", "read_at")


@dataclass(frozen=True)
class Page:
    """One page of items, newest first; ``next_cursor`` is ``None`` on the last page."""

    items: list[InboxItem]
    next_cursor: int | None


def unread_count(user_id: Any) -> int:
    """Unread, unarchived items: one count over the partial index ``dsn_inbox_unread``."""
    return InboxItem.objects.filter(UNREAD, user_id=user_id).count()


def version(user_id: Any) -> int:
    """The user's inbox version (0 before anything happened)."""
    return InboxVersion.objects.filter(user_id=user_id).values_list("version", flat=True).first() or 0


def parse_cursor(raw: str | None) -> int | None:
    """A cursor from a query string: a positive item id, or ``None``. ``ValueError`` if malformed."""
    if raw in (None, ""):
        return None
    value = int(str(raw))
    if value < 1:
        raise ValueError("cursor must be a positive integer")
    return value


def page(
    user_id: Any,
    *,
    cursor: int | None = None,
    size: int | None = None,
    unread_only: bool = False,
    with_html: bool = False,
) -> Page:
    """Items older than ``cursor`` (an item id), newest first, in one query.

    Cursors are item ids, so pages stay stable while new items arrive: a new item never
    shifts the next page, the way an offset would. The ids come from an index-only scan of
    the partial index in a subquery, then the rows by primary key: asked for the rows
    directly, PostgreSQL may walk the primary key backwards past every other user's newer
    rows (330 ms instead of 0.1 ms for a heavy user at 10^6 rows; see benchmarks/inbox.py).
    """
    size = max(1, min(int(size or conf.get("PAGE_SIZE")), 100))
    ids = InboxItem.objects.filter(user_id=user_id, archived_at__isnull=True)
    if unread_only:
        ids = ids.filter(read_at__isnull=True)
    if cursor is not None:
        ids = ids.filter(id__lt=cursor)
    fields = (*LIST_FIELDS, "html") if with_html else LIST_FIELDS
    rows = list(
        InboxItem.objects.filter(id__in=ids.order_by("-id").values("id")[: size + 1]).order_by("-id").only(*fields)
    )
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, rows[-1].pk if more and rows else None)


def since(user_id: Any, after_id: int, limit: int = 20) -> list[InboxItem]:
    """Unarchived items newer than ``after_id``, oldest first (what an SSE stream pushes)."""
    ids = InboxItem.objects.filter(user_id=user_id, archived_at__isnull=True, id__gt=after_id)
    return list(
        InboxItem.objects.filter(id__in=ids.order_by("id").values("id")[:limit]).order_by("id").only(*LIST_FIELDS)
    )


def latest_id(user_id: Any) -> int:
    """The id of the user's newest item (0 if none)."""
    return InboxItem.objects.filter(user_id=user_id).order_by("-id").values_list("id", flat=True).first() or 0


def mark_read(user_id: Any, ids: Iterable[int]) -> int:
    """Mark the user's items ``ids`` read; returns how many changed (others' ids change nothing)."""
    changed = InboxItem.objects.filter(UNREAD, user_id=user_id, id__in=list(ids)).update(read_at=timezone.now())
    if changed:
        announce([user_id])
    return changed


def mark_unread(user_id: Any, ids: Iterable[int]) -> int:
    """Mark the user's read, unarchived items ``ids`` unread again."""
    changed = InboxItem.objects.filter(
        user_id=user_id, id__in=list(ids), read_at__isnull=False, archived_at__isnull=True
    ).update(read_at=None)
    if changed:
        announce([user_id])
    return changed


def mark_all_read(user_id: Any, up_to: int | None = None) -> int:
    """Mark every unread item read (only those with ``id <= up_to`` when given: the ones the
    user has seen, so an item arriving meanwhile stays unread)."""
    qs = InboxItem.objects.filter(UNREAD, user_id=user_id)
    if up_to is not None:
        qs = qs.filter(id__lte=up_to)
    changed = qs.update(read_at=timezone.now())
    if changed:
        announce([user_id])
    return changed


def archive(user_id: Any, ids: Iterable[int]) -> int:
    """Archive (soft-delete) the user's items ``ids``; archived items count as read."""
    now = timezone.now()
    changed = InboxItem.objects.filter(user_id=user_id, id__in=list(ids), archived_at__isnull=True).update(
        archived_at=now, read_at=Coalesce(F("read_at"), now)
    )
    if changed:
        announce([user_id])
    return changed


def as_json(item: InboxItem, *, with_html: bool = False) -> dict[str, Any]:
    """The API's representation of an item."""
    data: dict[str, Any] = {
        "id": item.pk,
        "subject": item.subject,
        "text": item.text,
        "link": item.link,
        "level": item.level,
        "category": item.category,
        "verb": item.verb,
        "created_at": item.created_at.isoformat(),
        "read": item.read_at is not None,
    }
    if with_html:
        data["html"] = item.html
    return data
