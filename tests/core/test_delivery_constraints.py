"""A delivery's notification, subscription and backend have no database constraint (migration
0004: PostgreSQL checked them once per row at COMMIT, most of a large fan-out's time). Deleting
through Django still removes or nulls the deliveries, and rows left naming a deleted row (raw
SQL, a deletion racing a fan-out) are handled without breaking a worker."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from dsn_core import builtins
from dsn_core.fanout import fan_out
from dsn_core.models import Backend, Delivery, Notification, Subscription
from dsn_core.retention import prune
from dsn_core.sending import drain
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fanned_out(make_flow: Any, django_user_model: Any, settings: Any) -> dict[str, Any]:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(3)]
    subscription = make_flow(Article, users=users)
    Article.objects.create(title="a")
    notification = Notification.objects.get()
    assert fan_out(notification.pk) == 3
    builtins.outbox.clear()
    return {"subscription": subscription, "backend": subscription.backends.get(), "notification": notification}


def _foreign_keys() -> set[str]:
    """The columns of the delivery table that have a database foreign key."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Delivery._meta.db_table)
    return {c["columns"][0] for c in constraints.values() if c["foreign_key"]}


def test_only_the_recipient_and_the_self_links_are_constrained(db: Any) -> None:
    assert _foreign_keys() == {"recipient_id", "resend_of_id", "fallback_of_id"}


def test_deleting_a_notification_deletes_its_deliveries(fanned_out: dict[str, Any]) -> None:
    other = Notification.objects.create(verb="other", context={})
    fanned_out["notification"].delete()
    assert not Delivery.objects.exists()
    assert Notification.objects.get() == other


def test_deleting_notifications_as_a_queryset_and_by_retention(fanned_out: dict[str, Any]) -> None:
    Delivery.objects.update(status="sent")
    assert prune(0) == {"notifications": 1, "deliveries": 3}
    assert not Delivery.objects.exists()


def test_deleting_a_backend_nulls_its_deliveries(fanned_out: dict[str, Any]) -> None:
    Backend.objects.filter(pk=fanned_out["backend"].pk).delete()
    assert Delivery.objects.count() == 3
    assert set(Delivery.objects.values_list("backend_id", flat=True)) == {None}


def test_deleting_a_subscription_nulls_its_deliveries(fanned_out: dict[str, Any]) -> None:
    fanned_out["subscription"].delete()
    assert Delivery.objects.count() == 3
    assert set(Delivery.objects.values_list("subscription_id", flat=True)) == {None}


def test_deleting_the_trigger_reaches_the_deliveries_through_its_subscriptions(fanned_out: dict[str, Any]) -> None:
    fanned_out["subscription"].trigger.delete()
    assert not Subscription.objects.exists()
    assert set(Delivery.objects.values_list("subscription_id", flat=True)) == {None}
    assert Delivery.objects.count() == 3  # the notification stays (its trigger is SET_NULL)


def _raw_delete(model: Any, pk: Any) -> None:
    """Delete one row with SQL, as a site's own script might: Django's collector never sees it."""
    if model is Subscription:
        subscription = Subscription.objects.get(pk=pk)
        subscription.backends.clear()
        subscription.receiver_users.clear()
    elif model is Backend:
        Subscription.backends.through.objects.filter(backend_id=pk).delete()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)} WHERE id = %s", [pk])


def test_a_worker_drops_deliveries_whose_notification_vanished(fanned_out: dict[str, Any]) -> None:
    """Raw SQL left the deliveries behind: a worker deletes them (the cascade that was missed)
    and goes on with the rest, instead of failing on every claim."""
    Article.objects.create(title="b")
    second = Notification.objects.exclude(pk=fanned_out["notification"].pk).get()
    assert fan_out(second.pk) == 3
    _raw_delete(Notification, fanned_out["notification"].pk)
    assert Delivery.objects.count() == 6

    counts = drain(fanned_out["backend"].pk)

    assert counts["sent"] == 3
    assert sorted(m.metadata["notification"] for m in builtins.outbox) == [second.pk] * 3
    assert set(Delivery.objects.values_list("notification_id", flat=True)) == {second.pk}
    assert drain(fanned_out["backend"].pk)["sent"] == 0


def test_a_worker_records_deliveries_whose_backend_vanished_as_dead(fanned_out: dict[str, Any]) -> None:
    _raw_delete(Backend, fanned_out["backend"].pk)
    drain(None)
    assert set(Delivery.objects.values_list("status", "last_error")) == {("dead", "backend was deleted")}


def test_a_fan_out_whose_notification_was_deleted_meanwhile_leaves_nothing(
    make_flow: Any, django_user_model: Any, settings: Any, monkeypatch: Any
) -> None:
    """A deletion between the insert and the end of the fan-out (what the constraint would have
    refused at COMMIT): the fan-out removes the rows it wrote."""
    from dsn_core import fanout

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    make_flow(Article, users=[django_user_model.objects.create_user("u")])
    Article.objects.create(title="a")
    notification = Notification.objects.get()
    insert = fanout.insert_deliveries

    def insert_then_delete(*args: Any, **kwargs: Any) -> None:
        insert(*args, **kwargs)
        _raw_delete(Notification, notification.pk)

    monkeypatch.setattr(fanout, "insert_deliveries", insert_then_delete)
    assert fan_out(notification.pk) == 0
    assert not Delivery.objects.exists()


def test_a_fan_out_whose_backend_was_deleted_meanwhile_nulls_it(
    make_flow: Any, django_user_model: Any, settings: Any, monkeypatch: Any
) -> None:
    from dsn_core import fanout

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    subscription = make_flow(Article, users=[django_user_model.objects.create_user("u")])
    backend = subscription.backends.get()
    Article.objects.create(title="a")
    insert = fanout.insert_deliveries

    def insert_then_delete(*args: Any, **kwargs: Any) -> None:
        insert(*args, **kwargs)
        if Backend.objects.filter(pk=backend.pk).exists():
            _raw_delete(Subscription, subscription.pk)
            _raw_delete(Backend, backend.pk)

    monkeypatch.setattr(fanout, "insert_deliveries", insert_then_delete)
    fan_out(Notification.objects.get().pk)
    assert list(Delivery.objects.values_list("backend_id", "subscription_id")) == [(None, None)]


def test_every_constrained_reference_to_a_delivery_is_indexed() -> None:
    """Deleting a delivery makes the database look for the deliveries that name it (``resend_of``,
    ``fallback_of``, both constrained). Without an index on the column that is a scan of the table
    per deleted row: on PostgreSQL, deleting 10,000 rows took 2.0 s instead of 0.11 s, and a prune
    of 100 times as many rows would take 100 times longer per row."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Delivery._meta.db_table)
    indexed = {c["columns"][0] for c in constraints.values() if c["index"] or c["primary_key"] or c["unique"]}
    referencing = [
        f.column
        for f in Delivery._meta.concrete_fields
        if f.is_relation and f.related_model is Delivery and f.db_constraint
    ]
    assert sorted(referencing) == ["fallback_of_id", "resend_of_id"]
    assert set(referencing) <= indexed
