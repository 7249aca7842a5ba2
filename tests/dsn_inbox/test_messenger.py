"""The ``inbox`` messenger through the real pipeline: save -> notification -> deliveries -> items."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models.signals import post_save
from django.dispatch import Signal
from django.test.utils import CaptureQueriesContext
from dsn_inbox.messenger import InboxMessenger, safe_link
from dsn_inbox.models import InboxItem, InboxVersion

from dsn_core.errors import PermanentError
from dsn_core.messengers import Message
from dsn_core.models import Delivery, Notification
from dsn_core.plugins import messenger_choices
from dsn_core.verbs import register_signal, unregister_signal
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


def test_installed_through_the_entry_point() -> None:
    assert ("inbox", "In-site inbox") in messenger_choices()


def test_a_saved_article_lands_in_each_receivers_inbox(inbox_flow: Any, ann: Any, bob: Any, dsn_flush: Any) -> None:
    inbox_flow(level="warning", category="orders", link="/articles/{{ instance.pk }}/")
    article = Article.objects.create(title="Ledger")
    dsn_flush()
    assert list(Delivery.objects.values_list("status", flat=True)) == ["sent", "sent"]
    items = {item.user_id: item for item in InboxItem.objects.all()}
    assert set(items) == {ann.pk, bob.pk}
    item = items[ann.pk]
    assert (item.subject, item.text, item.level, item.category, item.verb) == (
        "New: Ledger",
        "Ledger was saved",
        "warning",
        "orders",
        "post_save",
    )
    assert item.link == f"/articles/{article.pk}/"
    delivery = Delivery.objects.get(pk=item.delivery_id)
    assert delivery.address == str(ann.pk) and delivery.provider_id == f"inbox-{item.pk}"
    assert item.notification_id == Notification.objects.get().pk
    assert item.read_at is None and item.archived_at is None
    assert set(InboxVersion.objects.values_list("user_id", flat=True)) == {ann.pk, bob.pk}


def test_one_bulk_insert_per_batch(inbox_flow: Any, dsn_flush: Any, django_user_model: Any) -> None:
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(30)]
    inbox_flow(users=users)
    Article.objects.create(title="Many")
    with CaptureQueriesContext(connection) as captured:
        dsn_flush()
    sqls = [q["sql"] for q in captured.captured_queries]
    inserts = [sql for sql in sqls if sql.startswith("INSERT") and "dsn_inbox_inboxitem" in sql]
    assert len(inserts) == 1
    assert InboxItem.objects.count() == 30


def test_a_retried_batch_never_makes_two_items(inbox_flow: Any, dsn_flush: Any) -> None:
    """A worker that stored the items but died before recording the outcome: the sweeper puts
    the deliveries back, the batch runs again, and the unique delivery key keeps one item each."""
    inbox_flow()
    Article.objects.create(title="Once")
    dsn_flush()
    first = set(InboxItem.objects.values_list("pk", "delivery_id"))
    Delivery.objects.update(status=Delivery.Status.PENDING, provider_id="")
    assert dsn_flush()["sent"] == 2  # the retry really ran (the fan-out sent the first time)
    assert set(InboxItem.objects.values_list("pk", "delivery_id")) == first
    assert all(d.provider_id.startswith("inbox-") for d in Delivery.objects.all())


def test_send_batch_twice_directly_is_idempotent(ann: Any) -> None:
    message = Message(address=str(ann.pk), subject="s", text="t", recipient=ann, delivery_id=None)
    with InboxMessenger({}) as messenger:
        messenger.send_batch([message])
    keyed = Message(address=str(ann.pk), subject="s", text="t", recipient=ann, delivery_id=4242)
    with InboxMessenger({}) as messenger:
        first = messenger.send_batch([keyed])
        second = messenger.send_batch([keyed])
    assert first[0].provider_id == second[0].provider_id
    assert InboxItem.objects.filter(delivery_id=4242).count() == 1


def test_the_link_comes_from_the_url_value_or_get_absolute_url(
    inbox_flow: Any, ann: Any, dsn_flush: Any, make_flow: Any
) -> None:
    shipped = Signal()
    register_signal("shipped", shipped, description="tests")
    try:
        make_flow(verb="shipped", messenger="inbox", users=[ann], text="shipped")
        shipped.send(sender=None, url="/orders/7/")
        shipped.send(sender=None, url="javascript:alert(1)")
        dsn_flush()
    finally:
        unregister_signal("shipped")
    assert sorted(InboxItem.objects.values_list("link", flat=True)) == ["", "/orders/7/"]


def test_get_absolute_url_of_the_action_object(inbox_flow: Any, ann: Any, dsn_flush: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(Article, "get_absolute_url", lambda self: f"/a/{self.pk}/", raising=False)
    inbox_flow(users=[ann])
    article = Article.objects.create(title="Linked")
    dsn_flush()
    assert InboxItem.objects.get().link == f"/a/{article.pk}/"


def test_safe_links_only() -> None:
    assert safe_link("/x/") == "/x/"
    assert safe_link("https://example.test/a") == "https://example.test/a"
    assert safe_link("javascript:alert(1)") == ""
    assert safe_link(" data:text/html,x") == ""
    assert safe_link(None) == ""


def test_bad_options_are_rejected_when_the_backend_is_saved() -> None:
    with pytest.raises(ValidationError, match="level"):
        InboxMessenger.clean_options({"level": "loud"})
    with pytest.raises(ValidationError, match="link"):
        InboxMessenger.clean_options({"link": "{% if %}"})
    with pytest.raises(ValidationError, match="users only"):
        InboxMessenger.clean_address("ops")


def test_a_message_without_a_recipient_fails_permanently(ann: Any) -> None:
    with InboxMessenger({}) as messenger:
        out = messenger.send_batch(
            [
                Message(address="x", subject="", text="t", delivery_id=1),
                Message(address=str(ann.pk), subject="", text="t", recipient=ann, delivery_id=2),
            ]
        )
    assert isinstance(out[0], PermanentError)
    assert InboxItem.objects.get().user_id == ann.pk


def test_the_inbox_adds_nothing_to_a_users_save(django_user_model: Any, inbox_flow: Any) -> None:
    """The flow listens to Articles; saving a user costs its own INSERT and nothing else."""
    inbox_flow()
    assert not any("dsn_inbox" in repr(r) for r in post_save.receivers)
    with CaptureQueriesContext(connection) as captured:
        django_user_model.objects.create_user("carol")
    data = [q for q in captured.captured_queries if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE"))]
    assert len(data) == 1 and data[0]["sql"].startswith("INSERT")


def test_system_checks_name_the_wrong_setting(settings: Any) -> None:
    assert InboxMessenger.check() == []
    settings.DSN = {**settings.DSN, "INBOX": {"KEEP_DAY": 3, "REDIS_URL": "http://cache:6379"}}
    found = {message.id: message.msg for message in InboxMessenger.check()}
    assert "KEEP_DAY" in found["dsn_inbox.W001"] and "KEEP_DAYS" in found["dsn_inbox.W001"]
    assert "redis://" in found["dsn_inbox.E002"] and "cache" not in found["dsn_inbox.E002"]
