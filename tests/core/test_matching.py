"""The hot path: which events match which triggers, what it costs, and what it never breaks.

Every test runs against the real database and Django's real signals; the trigger index
is built the way a site builds it (lazily, on the first signal after configuration).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models.signals import post_save
from django.dispatch import Signal
from django.test.utils import CaptureQueriesContext

from dsn_core import index
from dsn_core.models import Delivery, MessageTemplate, Notification
from dsn_core.verbs import register_signal, unregister_signal
from tests.testapp.models import Article, Comment, Team

pytestmark = pytest.mark.django_db

#: A custom signal, registered as a verb for the tests that need an actor or a target.
order_paid = Signal()
DUMMY_TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def order_paid_verb() -> Iterator[str]:
    register_signal("order_paid", order_paid, description="tests")
    yield "order_paid"
    unregister_signal("order_paid")


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", "bob@example.com", "pw")


def _ct(model: Any) -> ContentType:
    return ContentType.objects.get_for_model(model)


_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT")


def _data_queries(captured: CaptureQueriesContext) -> list[str]:
    """The statements that touched data (transaction and savepoint bookkeeping left out)."""
    return [q["sql"] for q in captured.captured_queries if not q["sql"].upper().startswith(_TRANSACTION_CONTROL)]


# -- verb, action object, actor, target ---------------------------------------------------


def test_only_the_triggers_verb_matches(make_flow: Any) -> None:
    make_flow(Article, verb="post_delete")
    article = Article.objects.create(title="kept")
    article.title = "edited"
    article.save()
    assert Notification.objects.count() == 0
    article.delete()
    notification = Notification.objects.get()
    assert notification.verb == "post_delete"
    assert notification.context["action_object"]["fields"]["title"] == "edited"


def test_action_object_model_narrows_the_sender(make_flow: Any) -> None:
    make_flow(Article)
    Team.objects.create(name="not an article")
    assert Notification.objects.count() == 0
    article = Article.objects.create(title="an article")
    notification = Notification.objects.get()
    assert notification.action_object_type == _ct(Article)
    assert notification.action_object_id == str(article.pk)


def test_action_object_id_narrows_to_one_instance(make_flow: Any) -> None:
    watched = Article.objects.create(title="watched")
    other = Article.objects.create(title="other")
    make_flow(Article, action_object_id=str(watched.pk))
    other.save()
    assert Notification.objects.count() == 0
    watched.save()
    assert list(Notification.objects.values_list("action_object_id", flat=True)) == [str(watched.pk)]


@pytest.mark.parametrize("actor_kwarg", ["actor", "actor_object"])
def test_actor_model_matches_either_actor_kwarg(
    make_flow: Any, order_paid_verb: str, user: Any, actor_kwarg: str
) -> None:
    make_flow(verb=order_paid_verb, actor_type=_ct(get_user_model()))
    team = Team.objects.create(name="a team, not a user")
    order_paid.send(sender=Article, **{actor_kwarg: team})
    order_paid.send(sender=Article)
    assert Notification.objects.count() == 0
    order_paid.send(sender=Article, **{actor_kwarg: user})
    notification = Notification.objects.get()
    assert notification.context["actor"]["pk"] == user.pk


def test_actor_instance_matches_only_that_user(
    make_flow: Any, order_paid_verb: str, user: Any, other_user: Any
) -> None:
    make_flow(verb=order_paid_verb, actor_type=_ct(get_user_model()), actor_id=str(user.pk))
    order_paid.send(sender=Article, actor=other_user)
    assert Notification.objects.count() == 0
    order_paid.send(sender=Article, actor=user)
    assert Notification.objects.get().context["actor"]["fields"]["username"] == "alice"


def test_custom_verb_action_object_narrowed_by_model(make_flow: Any, order_paid_verb: str) -> None:
    make_flow(Article, verb=order_paid_verb)
    order_paid.send(sender=None, action_object=Team.objects.create(name="t"))
    assert Notification.objects.count() == 0
    article = Article.objects.create(title="paid")
    order_paid.send(sender=None, action_object=article)
    assert Notification.objects.get().action_object_id == str(article.pk)


def test_target_must_match(make_flow: Any, order_paid_verb: str) -> None:
    make_flow(verb=order_paid_verb, target="shop")
    order_paid.send(sender=Article)
    order_paid.send(sender=Article, target="warehouse")
    assert Notification.objects.count() == 0
    order_paid.send(sender=Article, target="shop")
    assert Notification.objects.get().context["target"] == "shop"


def test_disabled_trigger_never_matches(make_flow: Any) -> None:
    subscription = make_flow(Article)
    subscription.trigger.enabled = False
    subscription.trigger.save()
    Article.objects.create(title="quiet")
    assert Notification.objects.count() == 0
    assert "post_save" not in index.current().by_verb


def test_disabled_subscription_never_matches(make_flow: Any) -> None:
    subscription = make_flow(Article)
    subscription.enabled = False
    subscription.save()
    Article.objects.create(title="quiet")
    assert Notification.objects.count() == 0


def test_subscription_without_backends_never_matches(make_flow: Any) -> None:
    subscription = make_flow(Article)
    subscription.backends.clear()
    Article.objects.create(title="quiet")
    assert Notification.objects.count() == 0


def test_re_enabling_a_trigger_matches_again(make_flow: Any) -> None:
    subscription = make_flow(Article, enabled=False)
    Article.objects.create(title="quiet")
    subscription.trigger.enabled = True
    subscription.trigger.save()
    Article.objects.create(title="loud")
    assert [n.context["action_object"]["fields"]["title"] for n in Notification.objects.all()] == ["loud"]


# -- what the hot path costs --------------------------------------------------------------


def test_event_without_matching_trigger_makes_no_query(make_flow: Any, django_assert_num_queries: Any) -> None:
    make_flow(Comment)
    assert index.current().version >= 0, "the index should be built by now"
    with django_assert_num_queries(1):  # the article's own INSERT, nothing from DSN
        Article.objects.create(title="unwatched")
    assert Notification.objects.count() == 0


def test_matching_trigger_adds_one_insert(make_flow: Any) -> None:
    make_flow(Article)
    with CaptureQueriesContext(connection) as captured:
        Article.objects.create(title="watched")
    queries = _data_queries(captured)
    assert len(queries) == 2, queries
    assert "testapp_article" in queries[0]
    assert queries[1].upper().startswith("INSERT") and "dsn_core_notification" in queries[1]


@pytest.mark.django_db(transaction=True)
def test_matching_trigger_adds_one_query_in_autocommit(make_flow: Any, settings: Any) -> None:
    """Outside any transaction: exactly the article's INSERT and the notification's.

    (bulk_create wraps its INSERT in BEGIN/COMMIT on SQLite; those are not counted.)
    """
    settings.TASKS = DUMMY_TASKS  # keep the on-commit fan-out out of the count
    make_flow(Article)
    with CaptureQueriesContext(connection) as captured:
        Article.objects.create(title="watched")
    sql = _data_queries(captured)
    assert len(sql) == 2, sql
    assert "dsn_core_notification" in sql[1]


def test_changed_condition_reads_previous_values_only_for_its_model(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"field": "status", "op": "changed"}])
    article = Article.objects.create(title="a")
    team = Team.objects.create(name="t")

    team.name = "renamed"
    with CaptureQueriesContext(connection) as captured:
        team.save()
    assert len(_data_queries(captured)) == 1  # the UPDATE only

    article.title = "retitled"  # not the watched field: SELECT previous + UPDATE, no notification
    with CaptureQueriesContext(connection) as captured:
        article.save()
    queries = _data_queries(captured)
    assert len(queries) == 2, queries
    assert queries[0].upper().startswith("SELECT") and "testapp_article" in queries[0]
    assert Notification.objects.count() == 0

    article.status = "paid"
    with CaptureQueriesContext(connection) as captured:
        article.save()
    assert len(_data_queries(captured)) == 3  # SELECT previous, UPDATE, INSERT notification
    assert Notification.objects.count() == 1


def test_new_rows_need_no_previous_values(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"field": "status", "op": "changed"}])
    with CaptureQueriesContext(connection) as captured:
        Article.objects.create(title="new")
    assert len(_data_queries(captured)) == 1
    assert Notification.objects.count() == 0


def test_trigger_without_change_conditions_reads_nothing_before_save(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"field": "status", "op": "eq", "value": "paid"}])
    article = Article.objects.create(title="a")
    article.title = "b"
    with CaptureQueriesContext(connection) as captured:
        article.save()
    assert len(_data_queries(captured)) == 1


# -- events DSN must ignore ---------------------------------------------------------------


def test_raw_saves_from_loaddata_are_ignored(make_flow: Any, tmp_path: Any) -> None:
    make_flow(Article)
    make_flow(Article, verb="pre_save")
    fixture = tmp_path / "articles.json"
    fixture.write_text(
        json.dumps(
            [
                {
                    "model": "testapp.article",
                    "pk": 900,
                    "fields": {"title": "loaded", "status": "draft", "note": "", "price": "1.00"},
                },
            ]
        )
    )
    call_command("loaddata", str(fixture), verbosity=0)
    assert Article.objects.filter(pk=900, title="loaded").exists()
    assert Notification.objects.count() == 0


def test_raw_saves_skip_previous_value_reads(make_flow: Any, tmp_path: Any) -> None:
    make_flow(Article, conditions=[{"field": "status", "op": "changed"}])
    Article.objects.create(pk=901, title="before", status="draft")
    fixture = tmp_path / "articles.json"
    fixture.write_text(
        json.dumps(
            [
                {
                    "model": "testapp.article",
                    "pk": 901,
                    "fields": {"title": "after", "status": "paid", "note": "", "price": "1.00"},
                },
            ]
        )
    )
    call_command("loaddata", str(fixture), verbosity=0)
    assert Article.objects.get(pk=901).status == "paid"
    assert Notification.objects.count() == 0


def test_model_less_trigger_ignores_dsn_own_models(
    make_flow: Any, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_flow(users=[user])  # post_save of any model
    with django_capture_on_commit_callbacks(execute=True):
        Team.objects.create(name="seen")
    assert Notification.objects.count() == 1
    # The fan-out and send above saved DSN rows; so do these: none of them is an event.
    MessageTemplate.objects.create(name="another", text="x")
    delivery = Delivery.objects.get()
    delivery.last_error = "touched"
    delivery.save()
    Notification.objects.get().save()
    assert Notification.objects.count() == 1
    assert Delivery.objects.count() == 1


# -- other verbs --------------------------------------------------------------------------


def test_m2m_changed_records_the_change(make_flow: Any, user: Any) -> None:
    make_flow(Team, verb="m2m_changed")
    team = Team.objects.create(name="t")
    team.members.add(user)
    contexts = [n.context for n in Notification.objects.order_by("pk")]
    post_add = [c for c in contexts if c["kwargs"].get("action") == "post_add"]
    assert len(post_add) == 1
    assert post_add[0]["action_object"]["pk"] == team.pk
    assert post_add[0]["kwargs"]["pk_set"] == [user.pk]


def test_m2m_changed_fires_once_per_change(make_flow: Any, user: Any, other_user: Any) -> None:
    make_flow(Team, verb="m2m_changed")
    team = Team.objects.create(name="t")
    team.members.add(user)
    team.members.remove(user)
    team.members.set([other_user])
    assert Notification.objects.count() == 3


def test_post_delete_keeps_the_deleted_values(make_flow: Any) -> None:
    make_flow(Article, verb="post_delete")
    article = Article.objects.create(title="gone soon", status="paid")
    pk = article.pk
    article.delete()
    notification = Notification.objects.get()
    assert notification.action_object_id == str(pk)
    assert notification.context["action_object"]["fields"]["status"] == "paid"


def test_user_logged_in(make_flow: Any, user: Any, client: Any) -> None:
    make_flow(get_user_model(), verb="user_logged_in")
    client.force_login(user)
    notification = Notification.objects.get()
    assert notification.verb == "user_logged_in"
    assert notification.action_object_id == str(user.pk)
    assert notification.context["actor"]["pk"] == user.pk
    assert "request" not in notification.context["kwargs"]


def test_user_login_failed_never_stores_the_password(make_flow: Any, user: Any) -> None:
    from django.contrib.auth import authenticate

    make_flow(verb="user_login_failed")
    assert authenticate(username="alice", password="s3cret-guess") is None
    notification = Notification.objects.get()
    assert notification.context["kwargs"]["credentials"]["username"] == "alice"
    assert "s3cret-guess" not in json.dumps(notification.context)


# -- the index builds itself on the first signal ------------------------------------------


def test_first_signal_builds_the_index_and_is_handled(make_flow: Any) -> None:
    make_flow(Article)
    index.reset()  # as in a freshly started process
    Article.objects.create(title="first event")
    assert Notification.objects.count() == 1
    Article.objects.create(title="second event")
    assert Notification.objects.count() == 2  # handled once each, not twice


def test_first_signal_is_a_pre_save_of_a_changed_row(make_flow: Any) -> None:
    make_flow(Article, conditions=[{"field": "status", "op": "changed"}])
    article = Article.objects.create(title="a")
    index.reset()
    article.status = "paid"
    article.save()
    assert Notification.objects.count() == 1


# -- the outbox: transactions and failures ------------------------------------------------


def test_rolled_back_transaction_leaves_no_trace(
    make_flow: Any, user: Any, dsn_outbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    make_flow(Article, users=[user])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            Article.objects.create(title="never")
            assert Notification.objects.count() == 1  # written inside the transaction ...
            raise RuntimeError("roll back")
    assert Notification.objects.count() == 0  # ... and gone with it
    assert callbacks == []
    assert dsn_outbox == []
    assert Delivery.objects.count() == 0


class _Unprintable:
    def __str__(self) -> str:
        raise ValueError("cannot print me")


def test_failure_in_hot_path_never_reaches_the_sender(make_flow: Any, order_paid_verb: str) -> None:
    make_flow(verb=order_paid_verb)
    before = index.stats["errors"]
    responses = order_paid.send(sender=Article, extra=_Unprintable())
    assert index.stats["errors"] == before + 1
    assert Notification.objects.count() == 0
    assert all(not isinstance(r, Exception) for _, r in responses)
    order_paid.send(sender=Article, extra="printable")  # and the next event still works
    assert Notification.objects.count() == 1


def _break_notification_inserts(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """Replace DSN's INSERT with a statement the database really rejects."""
    if "dsn_core_notification" in sql and sql.lstrip().upper().startswith("INSERT"):
        return execute("SELECT * FROM dsn_no_such_table", (), False, context)
    return execute(sql, params, many, context)


def test_database_error_in_hot_path_does_not_poison_callers_transaction(make_flow: Any) -> None:
    make_flow(Article)
    before = index.stats["errors"]
    with transaction.atomic():
        with connection.execute_wrapper(_break_notification_inserts):
            article = Article.objects.create(title="saved anyway")
        # On PostgreSQL an aborted transaction would make every query below fail.
        Team.objects.create(name="after the failure")
        assert Article.objects.filter(pk=article.pk).exists()
    assert index.stats["errors"] == before + 1
    assert Notification.objects.count() == 0
    assert Team.objects.filter(name="after the failure").exists()


@pytest.mark.django_db(transaction=True)
def test_database_error_in_autocommit_is_contained(make_flow: Any) -> None:
    make_flow(Article)
    before = index.stats["errors"]
    with connection.execute_wrapper(_break_notification_inserts):
        Article.objects.create(title="saved anyway")
    assert index.stats["errors"] == before + 1
    assert Article.objects.filter(title="saved anyway").exists()


def test_post_save_receivers_after_dsn_still_run(make_flow: Any) -> None:
    """A DSN failure must not stop the signal's other receivers."""
    make_flow(verb="post_save")
    seen: list[str] = []

    def later(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append(instance.name)

    post_save.connect(later, sender=Team, weak=False)
    try:
        with connection.execute_wrapper(_break_notification_inserts):
            Team.objects.create(name="still heard")
    finally:
        post_save.disconnect(later, sender=Team)
    assert seen == ["still heard"]


def test_model_signal_receivers_are_connected_only_for_models_with_triggers(make_flow: Any) -> None:
    from django.db.models.signals import post_save

    from dsn_core import index
    from tests.testapp.models import Comment

    make_flow(Article)
    index.rebuild()
    assert post_save.has_listeners(Article)
    article_receivers = len(post_save._live_receivers(Article)[0])
    comment_receivers = len(post_save._live_receivers(Comment)[0])
    assert article_receivers == comment_receivers + 1  # DSN listens for Article only
