"""The admin shows items read-only to staff with permission; the sweeper prunes old read items."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from dsn_inbox.models import InboxItem
from dsn_inbox.retention import prune

from dsn_core.sweep import sweep

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/dsn_inbox/inboxitem/"


def staff(django_user_model: Any, *perms: str) -> Client:
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="dsn_inbox", codename__in=perms))
    client = Client()
    client.force_login(user)
    return client


def test_staff_with_view_permission_read_items_but_cannot_edit(django_user_model: Any, ann: Any) -> None:
    item = InboxItem.objects.create(user=ann, subject="Your order shipped")
    client = staff(django_user_model, "view_inboxitem")
    listing = client.get(CHANGELIST)
    assert listing.status_code == 200 and b"Your order shipped" in listing.content
    detail = client.get(f"{CHANGELIST}{item.pk}/change/")
    assert detail.status_code == 200 and b'name="subject"' not in detail.content
    assert client.post(f"{CHANGELIST}{item.pk}/change/", {"subject": "edited"}).status_code == 403
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    assert InboxItem.objects.get().subject == "Your order shipped"


def test_staff_without_permission_see_nothing(django_user_model: Any, ann: Any) -> None:
    InboxItem.objects.create(user=ann, subject="private")
    assert staff(django_user_model).get(CHANGELIST).status_code == 403


def test_the_inbox_backend_is_in_the_messenger_dropdown(admin_user: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/dsn_core/backend/add/").content.decode()
    assert '<option value="inbox">In-site inbox</option>' in page


def make(user: Any, *, age_days: float, read: bool = True, archived: bool = False) -> InboxItem:
    when = timezone.now() - timedelta(days=age_days)
    return InboxItem.objects.create(
        user=user,
        subject=f"{age_days}",
        created_at=when,
        read_at=when if read else None,
        archived_at=when if archived else None,
    )


def test_the_sweeper_prunes_read_items_older_than_keep_days(ann: Any, settings: Any) -> None:
    old_read, old_archived = make(ann, age_days=40), make(ann, age_days=40, archived=True)
    old_unread, recent = make(ann, age_days=40, read=False), make(ann, age_days=2)
    assert "inbox_pruned" not in sweep(enqueue=False)  # KEEP_DAYS unset: keep for ever
    settings.DSN = {**settings.DSN, "INBOX": {"KEEP_DAYS": 30}}
    assert sweep(enqueue=False)["inbox_pruned"] == 2
    remaining = set(InboxItem.objects.values_list("pk", flat=True))
    assert remaining == {old_unread.pk, recent.pk}
    assert old_read.pk not in remaining and old_archived.pk not in remaining


def test_prune_works_in_bounded_batches(ann: Any) -> None:
    for _ in range(5):
        make(ann, age_days=10)
    assert prune(1, batch=2, max_batches=2) == 4
    assert prune(1, batch=2) == 1
    with pytest.raises(ValueError):
        prune(-1)
