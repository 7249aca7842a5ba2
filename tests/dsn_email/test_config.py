"""Registration, options, addresses, system checks and the contract test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core import checks
from django.core.exceptions import ValidationError
from dsn_email.messenger import EmailMessenger
from dsn_email.transport import HAS_MAILERS

from dsn_core.addresses import set_address
from dsn_core.messengers import RateLimit
from dsn_core.plugins import registry
from dsn_core.testing import MessengerContract
from tests.dsn_email.conftest import smtp_connection
from tests.dsn_email.smtp_server import FakeSMTP
from tests.fakes import free_port


def test_registered_through_the_entry_point() -> None:
    reg = registry()
    assert reg.messengers["email"] is EmailMessenger
    assert reg.plugins["email"].distribution == "dsn-email"
    assert not [p for p in reg.problems if p.plugin == "email"]


# -- options ---------------------------------------------------------------------------


def test_good_options_pass(smtp_settings: Any) -> None:
    cleaned = EmailMessenger.clean_options(
        {
            "from_email": "Shop <shop@example.com>",
            "reply_to": "a@example.com, b@example.com",
            "connection": "test",
            "subject_prefix": "[Shop] ",
        }
    )
    assert cleaned["connection"] == "test"
    assert EmailMessenger.clean_options({"connection": "anymail.backends.test.EmailBackend"})


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"from_email": "not an address"}, "from_email"),
        ({"reply_to": "ok@example.com, broken@"}, "reply_to"),
        ({"connection": "nope"}, "unknown email connection 'nope'"),
        ({"connection": "no.such.module.Backend"}, "does not import"),
        ({"connection": "dsn_core.messengers.Messenger"}, "not an email backend class"),
        ({"subject_prefix": "two\nlines"}, "subject_prefix"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_options_are_rejected_with_the_reason(smtp_settings: Any, options: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        EmailMessenger.clean_options(options)
    assert needle in " ".join(info.value.messages)


def test_unknown_connection_names_the_known_ones(smtp_settings: Any) -> None:
    with pytest.raises(ValidationError) as info:
        EmailMessenger.clean_options({"connection": "tset"})
    assert "known: test" in " ".join(info.value.messages)


def test_fixed_addresses_are_validated() -> None:
    assert EmailMessenger.clean_address("  ops@example.com ") == "ops@example.com"
    assert EmailMessenger.clean_address("Ops Team <ops@example.com>") == "Ops Team <ops@example.com>"
    for bad in ("", "ops", "ops@", "a@example.com\nBcc: x@example.com"):
        with pytest.raises(ValidationError):
            EmailMessenger.clean_address(bad)


def test_rate_limit_setting(email_settings: Callable[..., Any]) -> None:
    assert EmailMessenger().rate_limits_for("a@example.com") == ()
    email_settings(RATE_LIMIT=(14, 1))
    assert EmailMessenger().rate_limits_for("a@example.com") == (RateLimit(14, 1.0),)


# -- addresses -------------------------------------------------------------------------


@pytest.mark.django_db
def test_addresses_from_the_attribute_without_queries(django_user_model: Any, django_assert_num_queries: Any) -> None:
    users = [django_user_model.objects.create_user(f"u{i}", f"u{i}@example.com") for i in range(3)]
    with django_assert_num_queries(0):
        found = EmailMessenger().addresses_for(users)
    assert found == {u.pk: f"u{i}@example.com" for i, u in enumerate(users)}


@pytest.mark.django_db
def test_address_book_fallback_in_one_query(django_user_model: Any, django_assert_num_queries: Any) -> None:
    has = django_user_model.objects.create_user("has", "has@example.com")
    booked = django_user_model.objects.create_user("booked", "")
    nothing = django_user_model.objects.create_user("nothing", "")
    set_address(booked, "email", "booked@example.com")
    messenger = EmailMessenger()
    with django_assert_num_queries(1):
        found = messenger.addresses_for([has, booked, nothing])
    assert found == {has.pk: "has@example.com", booked.pk: "booked@example.com"}
    assert messenger.address_for(booked) == "booked@example.com"
    assert messenger.address_for(nothing) is None


@pytest.mark.django_db
def test_user_attribute_setting(django_user_model: Any, email_settings: Callable[..., Any]) -> None:
    user = django_user_model.objects.create_user("x", "x@example.com", first_name="work@example.com")
    email_settings(USER_ATTRIBUTE="first_name")
    assert EmailMessenger().addresses_for([user]) == {user.pk: "work@example.com"}


# -- system checks ---------------------------------------------------------------------


def ids(messages: list[Any]) -> list[str]:
    return sorted(m.id for m in messages if m.id and m.id.startswith("dsn_email."))


def test_clean_settings_pass_the_checks(smtp_settings: Any) -> None:
    assert ids(EmailMessenger.check()) == []


def test_checks_report_bad_settings(email_settings: Callable[..., Any]) -> None:
    email_settings(FROM="nobody", USER_ATTRIBUTE="mail_address", CONNECTIONS={"x": {"BACKEND": "no.such.Backend"}})
    assert ids(EmailMessenger.check()) == ["dsn_email.E001", "dsn_email.E002", "dsn_email.E003"]


def test_checks_run_through_django(email_settings: Callable[..., Any]) -> None:
    email_settings(FROM="nobody")
    found = checks.run_checks(tags=["dsn"])
    assert "dsn_email.E001" in ids(found)


@pytest.mark.skipif(HAS_MAILERS, reason="Django 6.1+ configures mail through MAILERS; this check is for EMAIL_*")
def test_smtp_without_timeout_warns(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_TIMEOUT = None
    assert ids(EmailMessenger.check()) == ["dsn_email.W001"]
    settings.EMAIL_TIMEOUT = 10
    assert ids(EmailMessenger.check()) == []


def test_verify_connections_reports_authentication_failure(email_settings: Callable[..., Any]) -> None:
    with FakeSMTP(credentials=("dsn", "right")) as server:
        email_settings(
            VERIFY_CONNECTIONS=True,
            CONNECTIONS={
                "good": smtp_connection(server.port, username="dsn", password="right"),
                "bad": smtp_connection(server.port, username="dsn", password="wrong-pass-123"),
                "down": smtp_connection(free_port()),
            },
        )
        messages = EmailMessenger.check()
    assert ids(messages) == ["dsn_email.E004", "dsn_email.W002"]
    [auth] = [m for m in messages if m.id == "dsn_email.E004"]
    assert "'bad'" in auth.msg and "authentication failed" in auth.msg
    assert "wrong-pass-123" not in auth.msg
    [down] = [m for m in messages if m.id == "dsn_email.W002"]
    assert "'down'" in down.msg


def test_no_network_without_verify(email_settings: Callable[..., Any]) -> None:
    email_settings(CONNECTIONS={"down": smtp_connection(free_port())})
    assert ids(EmailMessenger.check()) == []


# -- the core's contract ---------------------------------------------------------------


class TestContract(MessengerContract):
    @pytest.fixture
    def address(self) -> str:
        return "contract@example.com"

    @pytest.fixture
    def received(self, smtp: FakeSMTP) -> Callable[[], list[dict[str, Any]]]:
        return lambda: [{"text": r.text, "to": r.rcpt_tos} for r in smtp.received]
