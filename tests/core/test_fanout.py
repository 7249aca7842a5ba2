"""Fan-out: one notification becomes one delivery per backend x address, exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.dispatch import Signal

from dsn_core import hookimpl
from dsn_core.compat import task_backends
from dsn_core.fanout import NO_ADDRESS, OPTED_OUT, fan_out
from dsn_core.messengers import Message, Messenger, SendResult
from dsn_core.models import Backend, Delivery, Notification, OptOut
from dsn_core.verbs import register_signal, unregister_signal
from tests.testapp.models import Article, Team

pytestmark = pytest.mark.django_db

article_published = Signal()


@pytest.fixture
def published_verb() -> Iterator[str]:
    register_signal("article_published", article_published)
    yield "article_published"
    unregister_signal("article_published")


@pytest.fixture
def dummy_tasks(settings: Any) -> Any:
    """Enqueued tasks are kept, not run, so deliveries stay as fan-out left them."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    return task_backends["default"]


@pytest.fixture
def people(django_user_model: Any) -> dict[str, Any]:
    make = django_user_model.objects.create_user
    return {
        "listed": make("listed"),
        "grouped": make("grouped"),
        "owner": make("owner"),
        "member": make("member"),
        "actor": make("actor"),
        "asleep": make("asleep", is_active=False),
        "boss": django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"),
    }


def _notification() -> Notification:
    return Notification.objects.get()


def _recipients(**filters: Any) -> list[str]:
    return sorted(Delivery.objects.filter(**filters).values_list("recipient__username", flat=True))


class NoAddressMessenger(Messenger):
    """A channel on which nobody has an address."""

    key = "noaddr"
    label = "No address (tests)"

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return {}

    def send(self, message: Message) -> SendResult:
        raise AssertionError("nothing should be sent: nobody has an address")


class NoAddressPlugin:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        register(NoAddressMessenger)


# -- who receives -------------------------------------------------------------------------


def test_every_kind_of_receiver_deduplicated(
    make_flow: Any, people: dict[str, Any], published_verb: str, dummy_tasks: Any
) -> None:
    group = Group.objects.create(name="editors")
    group.user_set.add(people["grouped"], people["listed"], people["asleep"])
    team = Team.objects.create(name="desk")
    team.members.add(people["member"], people["owner"], people["asleep"])
    article = Article.objects.create(title="scoop", owner=people["owner"], team=team)
    subscription = make_flow(
        Article,
        verb=published_verb,
        users=[people["listed"], people["owner"], people["asleep"]],
        dynamic=["instance.owner", "instance.team.members", "actor", "@superusers"],
    )
    subscription.receiver_groups.add(group)
    second = Backend.objects.create(name="console", messenger="console", template=subscription.backends.get().template)
    subscription.backends.add(second)

    article_published.send(sender=Article, action_object=article, actor=people["actor"])
    created = fan_out(_notification().pk)

    expected = ["actor", "boss", "grouped", "listed", "member", "owner"]
    assert created == 2 * len(expected)
    assert _recipients(messenger="locmem") == expected
    assert _recipients(messenger="console") == expected
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}
    assert Delivery.objects.get(messenger="locmem", recipient=people["boss"]).address == "boss"
    enqueued = sorted(r.args[0] for r in dummy_tasks.results if r.task.name == "send_task")
    assert enqueued == sorted(subscription.backends.values_list("pk", flat=True))


def test_inactive_users_are_excluded_everywhere(make_flow: Any, people: dict[str, Any], dummy_tasks: Any) -> None:
    asleep = people["asleep"]
    group = Group.objects.create(name="g")
    group.user_set.add(asleep)
    subscription = make_flow(Article, users=[asleep], dynamic=["instance.owner"])
    subscription.receiver_groups.add(group)
    Article.objects.create(title="a", owner=asleep)
    assert fan_out(_notification().pk) == 0
    assert Delivery.objects.count() == 0


def test_missing_links_in_a_path_reach_nobody(make_flow: Any, people: dict[str, Any], dummy_tasks: Any) -> None:
    make_flow(Article, dynamic=["instance.owner", "instance.team.members", "actor"])
    Article.objects.create(title="no owner, no team")
    assert fan_out(_notification().pk) == 0


def test_opt_out_of_a_messenger(make_flow: Any, people: dict[str, Any], dummy_tasks: Any) -> None:
    make_flow(Article, users=[people["listed"], people["owner"]])
    OptOut.objects.create(user=people["listed"], messenger="locmem")
    OptOut.objects.create(user=people["owner"], messenger="console")  # another channel: no effect
    Article.objects.create(title="a")
    fan_out(_notification().pk)
    skipped = Delivery.objects.get(recipient=people["listed"])
    assert (skipped.status, skipped.last_error) == ("skipped", OPTED_OUT)
    assert Delivery.objects.get(recipient=people["owner"]).status == "pending"


def test_opt_out_of_a_subscription(make_flow: Any, people: dict[str, Any], dummy_tasks: Any) -> None:
    subscription = make_flow(Article, users=[people["listed"]])
    OptOut.objects.create(user=people["listed"], subscription=subscription)
    Article.objects.create(title="a")
    fan_out(_notification().pk)
    assert Delivery.objects.get().last_error == OPTED_OUT


def test_opt_out_of_everything(make_flow: Any, people: dict[str, Any], dummy_tasks: Any) -> None:
    make_flow(Article, users=[people["listed"]])
    OptOut.objects.create(user=people["listed"])
    Article.objects.create(title="a")
    fan_out(_notification().pk)
    assert Delivery.objects.get().status == "skipped"


def test_opt_out_of_another_subscription_does_not_apply(
    make_flow: Any, people: dict[str, Any], dummy_tasks: Any
) -> None:
    other = make_flow(Team, users=[people["listed"]])
    make_flow(Article, users=[people["listed"]])
    OptOut.objects.create(user=people["listed"], subscription=other)
    Article.objects.create(title="a")
    fan_out(_notification().pk)
    assert Delivery.objects.get().status == "pending"


def test_critical_subscriptions_ignore_opt_outs(make_flow: Any, people: dict[str, Any], dummy_tasks: Any) -> None:
    subscription = make_flow(Article, users=[people["listed"]])
    subscription.critical = True
    subscription.save()
    OptOut.objects.create(user=people["listed"], messenger="locmem")
    OptOut.objects.create(user=people["listed"], subscription=subscription)
    Article.objects.create(title="a")
    fan_out(_notification().pk)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error) == ("pending", "")


def test_user_without_address_is_skipped(
    make_flow: Any, people: dict[str, Any], dsn_plugin: Any, dummy_tasks: Any
) -> None:
    dsn_plugin("noaddr-tests", NoAddressPlugin())
    make_flow(Article, messenger="noaddr", users=[people["listed"]])
    Article.objects.create(title="a")
    assert fan_out(_notification().pk) == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error) == ("skipped", NO_ADDRESS)
    assert delivery.recipient == people["listed"]
    assert not [r for r in dummy_tasks.results if r.task.name == "send_task"]  # nothing to send


def test_fixed_addresses(make_flow: Any, people: dict[str, Any], dummy_tasks: Any) -> None:
    make_flow(Article, users=[people["listed"]], fixed={"locmem": ["ops-room", "night-desk"], "console": ["x"]})
    Article.objects.create(title="a")
    assert fan_out(_notification().pk) == 3
    fixed = Delivery.objects.filter(recipient=None)
    assert sorted(fixed.values_list("address", flat=True)) == ["night-desk", "ops-room"]
    assert set(fixed.values_list("status", flat=True)) == {"pending"}
    assert not Delivery.objects.filter(messenger="console").exists()  # no console backend here


def test_fixed_address_equal_to_a_users_address_is_sent_once(
    make_flow: Any, people: dict[str, Any], dummy_tasks: Any
) -> None:
    make_flow(Article, users=[people["listed"]], fixed={"locmem": ["listed"]})
    Article.objects.create(title="a")
    fan_out(_notification().pk)
    assert list(Delivery.objects.values_list("address", flat=True)) == ["listed"]


# -- exactly once -------------------------------------------------------------------------


def test_fan_out_twice_creates_nothing_twice(make_flow: Any, people: dict[str, Any], dummy_tasks: Any) -> None:
    make_flow(Article, users=[people["listed"], people["owner"]], fixed={"locmem": ["ops-room"]})
    Article.objects.create(title="a")
    notification = _notification()
    assert fan_out(notification.pk) == 3
    assert fan_out(notification.pk) == 0
    assert Delivery.objects.count() == 3
    assert Notification.objects.get().fanned_out_at is not None


def test_rerun_of_an_unfinished_fan_out_adds_no_rows(make_flow: Any, people: dict[str, Any], dummy_tasks: Any) -> None:
    """The sweeper re-runs a fan-out whose worker died before marking it done."""
    make_flow(Article, users=[people["listed"], people["owner"]], fixed={"locmem": ["ops-room"]})
    Article.objects.create(title="a")
    notification = _notification()
    fan_out(notification.pk)
    Notification.objects.filter(pk=notification.pk).update(fanned_out_at=None)
    fan_out(notification.pk)
    assert Delivery.objects.count() == 3


def test_rerun_beside_a_resend_adds_no_rows(make_flow: Any, people: dict[str, Any], dummy_tasks: Any) -> None:
    """A resend shares its original's notification, backend and address; fan-out still
    recognises every original (the unique key covers rows that are not resends)."""
    make_flow(Article, users=[people["listed"], people["owner"]], fixed={"locmem": ["ops-room"]})
    Article.objects.create(title="a")
    notification = _notification()
    fan_out(notification.pk)
    original = Delivery.objects.get(address="ops-room")
    Delivery.objects.create(
        notification=notification, backend=original.backend, messenger="locmem", address="ops-room", resend_of=original
    )
    Notification.objects.filter(pk=notification.pk).update(fanned_out_at=None)
    assert fan_out(notification.pk) == 0
    assert Delivery.objects.filter(address="ops-room").count() == 2
    assert Delivery.objects.count() == 4


def test_rerun_of_an_unfinished_fan_out_reports_zero_created(
    make_flow: Any, people: dict[str, Any], dummy_tasks: Any
) -> None:
    make_flow(Article, users=[people["listed"], people["owner"]])
    Article.objects.create(title="a")
    notification = _notification()
    fan_out(notification.pk)
    Notification.objects.filter(pk=notification.pk).update(fanned_out_at=None)
    assert fan_out(notification.pk) == 0


def test_fan_out_of_unknown_notification() -> None:
    assert fan_out(987654) == 0


def test_small_chunks_give_the_same_deliveries(
    make_flow: Any, people: dict[str, Any], settings: Any, dummy_tasks: Any
) -> None:
    settings.DSN = {**settings.DSN, "FANOUT_CHUNK": 2}
    make_flow(Article, users=list(people.values()))
    Article.objects.create(title="a")
    assert fan_out(_notification().pk) == 6  # everyone active
    assert _recipients() == ["actor", "boss", "grouped", "listed", "member", "owner"]


# -- the whole path -----------------------------------------------------------------------


def test_message_about_a_deleted_object(
    make_flow: Any, people: dict[str, Any], dsn_outbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    make_flow(
        Article,
        verb="post_delete",
        users=[people["listed"]],
        text="Deleted: {{ instance.title }} ({{ instance.status }}, #{{ instance.pk }})",
    )
    article = Article.objects.create(title="Old news", status="paid")
    pk = article.pk
    with django_capture_on_commit_callbacks(execute=True):
        article.delete()
    assert not Article.objects.filter(pk=pk).exists()
    assert [m.text for m in dsn_outbox] == [f"Deleted: Old news (paid, #{pk})"]
    assert Delivery.objects.get().status == "sent"


def test_on_commit_runs_fan_out_and_send(
    make_flow: Any, people: dict[str, Any], dsn_outbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    make_flow(Article, users=[people["listed"], people["owner"]])
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.create(title="Hello")
        assert Delivery.objects.count() == 0  # nothing before the commit
    assert sorted(m.address for m in dsn_outbox) == ["listed", "owner"]
    assert _notification().fanned_out_at is not None


class _OpsChat(Messenger):
    key = "opschat"
    label = "Ops chat"

    def backend_addresses(self) -> list[str]:
        return ["ops-room"]

    def send(self, message: Message) -> SendResult:
        return SendResult()


class _OpsPlugin:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        register(_OpsChat)


def test_backend_addresses_replace_the_users(
    make_flow: Any, people: dict[str, Any], dsn_plugin: Any, dummy_tasks: Any
) -> None:
    dsn_plugin("opschat", _OpsPlugin())
    make_flow(Article, messenger="opschat", users=list(people.values()))
    Article.objects.create(title="x")
    fan_out(_notification().pk)
    assert list(Delivery.objects.values_list("address", "recipient_id", "status")) == [("ops-room", None, "pending")]
