"""Fan-out loads receivers with only the user fields their messenger reads (``user_fields``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dsn_core import hookimpl
from dsn_core.addresses import set_address
from dsn_core.fanout import NO_ADDRESS, fan_out
from dsn_core.messengers import Message, Messenger, SendResult
from dsn_core.models import Delivery, Notification
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

#: What each probe messenger saw: the deferred fields of every user handed to addresses_for.
seen: list[set[str]] = []


class _Probe(Messenger):
    label = "probe (tests)"

    def send(self, message: Message) -> SendResult:
        return SendResult()

    @staticmethod
    def _read(users: Any, field: str) -> dict[Any, str]:
        """Record what each user had deferred, then read ``field`` as the address."""
        users = list(users)
        seen.extend(u.get_deferred_fields() for u in users)
        return {u.pk: getattr(u, field) for u in users if getattr(u, field)}


class EmailReader(_Probe):
    """Reads ``email`` and declares it."""

    key = "probe_email"
    user_fields = ("email",)

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return self._read(users, "email")


class Undeclared(_Probe):
    """Overrides ``addresses_for`` and declares nothing: it gets whole users."""

    key = "probe_undeclared"

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return self._read(users, "last_name")


class BookOnly(_Probe):
    """Keeps the default ``addresses_for`` (the address book): only ``pk`` is read."""

    key = "probe_book"


class NotAField(_Probe):
    """Declares a name ``only()`` cannot take (a property of the user): whole users again."""

    key = "probe_property"
    user_fields = ("is_authenticated",)

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return self._read(users, "first_name")


class TooFew(_Probe):
    """Declares no field but reads one: slower (a query per user), never wrong."""

    key = "probe_too_few"
    user_fields = ()

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return {u.pk: u.email for u in users if u.email}


class Probes:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        for cls in (EmailReader, Undeclared, BookOnly, NotAField, TooFew):
            register(cls)


@pytest.fixture
def probes(dsn_plugin: Any, settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    dsn_plugin("fanout-users-probes", Probes())
    seen.clear()


@pytest.fixture
def users(django_user_model: Any) -> list[Any]:
    make = django_user_model.objects.create_user
    return [
        make("ann", "ann@example.com", first_name="Ann", last_name="ann-ln"),
        make("bob", "bob@example.com", first_name="Bob", last_name="bob-ln"),
        make("cy", ""),
    ]


def _fan_out(make_flow: Any, messenger: str, users: list[Any]) -> dict[str, str]:
    make_flow(Article, messenger=messenger, users=users)
    Article.objects.create(title="a")
    assert fan_out(Notification.objects.get().pk) == len(users)
    return {
        d.recipient.username: d.address if d.status == "pending" else d.last_error
        for d in Delivery.objects.select_related("recipient")
    }


def _user_queries(ctx: CaptureQueriesContext) -> list[str]:
    table = connection.ops.quote_name("auth_user")
    return [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT") and f"FROM {table}" in q["sql"]]


def test_declared_fields_only_are_loaded(make_flow: Any, probes: None, users: list[Any]) -> None:
    assert _fan_out(make_flow, "probe_email", users) == {
        "ann": "ann@example.com",
        "bob": "bob@example.com",
        "cy": NO_ADDRESS,
    }
    assert len(seen) == 3
    for deferred in seen:
        assert "email" not in deferred
        assert {"password", "username", "last_login", "first_name"} <= deferred


def test_a_messenger_that_declares_nothing_gets_whole_users(make_flow: Any, probes: None, users: list[Any]) -> None:
    assert _fan_out(make_flow, "probe_undeclared", users) == {"ann": "ann-ln", "bob": "bob-ln", "cy": NO_ADDRESS}
    assert seen == [set(), set(), set()]


def test_a_name_that_is_not_a_field_loads_whole_users(make_flow: Any, probes: None, users: list[Any]) -> None:
    assert _fan_out(make_flow, "probe_property", users) == {"ann": "Ann", "bob": "Bob", "cy": NO_ADDRESS}
    assert seen == [set(), set(), set()]


def test_the_address_book_messenger_loads_only_primary_keys(make_flow: Any, probes: None, users: list[Any]) -> None:
    assert BookOnly().user_fields == ()
    assert Undeclared().user_fields is None
    set_address(users[0], "probe_book", "ann-book")
    with CaptureQueriesContext(connection) as ctx:
        result = _fan_out(make_flow, "probe_book", users)
    assert result == {"ann": "ann-book", "bob": NO_ADDRESS, "cy": NO_ADDRESS}
    (query,) = [q for q in _user_queries(ctx) if " IN (" in q]
    selected = query.split(" FROM ")[0]
    assert '"id"' in selected
    assert "password" not in selected and "username" not in selected


def test_too_few_fields_are_slow_but_right(make_flow: Any, probes: None, users: list[Any]) -> None:
    with CaptureQueriesContext(connection) as ctx:
        result = _fan_out(make_flow, "probe_too_few", users)
    assert result == {"ann": "ann@example.com", "bob": "bob@example.com", "cy": NO_ADDRESS}
    assert len(_user_queries(ctx)) >= 1 + len(users)  # one load, then one per user for the email


def test_locmem_loads_the_username_only(make_flow: Any, probes: None, users: list[Any]) -> None:
    with CaptureQueriesContext(connection) as ctx:
        result = _fan_out(make_flow, "locmem", users)
    assert result == {"ann": "ann", "bob": "bob", "cy": "cy"}
    (query,) = [q for q in _user_queries(ctx) if " IN (" in q]
    selected = query.split(" FROM ")[0]
    assert "username" in selected
    assert "password" not in selected and "email" not in selected


# -- the official plugins declare what they read ---------------------------------------------


def test_official_plugins_declare_their_fields(settings: Any) -> None:
    from dsn_email.messenger import EmailMessenger
    from dsn_inbox.messenger import InboxMessenger
    from dsn_sms.messenger import SmsMessenger
    from dsn_telegram.messenger import TelegramMessenger
    from dsn_twitter.messenger import TwitterMessenger

    assert EmailMessenger().user_fields == ("email",)
    settings.DSN = {**settings.DSN, "EMAIL": {"USER_ATTRIBUTE": "work_email"}}
    assert EmailMessenger().user_fields == ("work_email",)
    assert InboxMessenger().user_fields == ()
    assert TelegramMessenger().user_fields == ()
    assert TwitterMessenger().user_fields == ()
    assert TwitterMessenger({"mode": "dm"}).user_fields == ()
    settings.DSN = {**settings.DSN, "SMS": {}}
    assert SmsMessenger().user_fields == ()
    settings.DSN = {**settings.DSN, "SMS": {"PHONE_ATTRIBUTE": "last_name"}}
    assert SmsMessenger().user_fields == ("last_name",)
    settings.DSN = {**settings.DSN, "SMS": {"PHONE_ATTRIBUTE": "profile.phone"}}
    assert SmsMessenger().user_fields is None


def test_email_fan_out_reads_the_email_of_users_loaded_without_other_fields(
    make_flow: Any, probes: None, users: list[Any]
) -> None:
    with CaptureQueriesContext(connection) as ctx:
        result = _fan_out(make_flow, "email", users)
    assert result == {"ann": "ann@example.com", "bob": "bob@example.com", "cy": NO_ADDRESS}
    (query,) = [q for q in _user_queries(ctx) if " IN (" in q]
    assert "email" in query.split(" FROM ")[0] and "password" not in query.split(" FROM ")[0]
