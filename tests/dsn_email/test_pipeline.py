"""The whole path: an Article is saved -> trigger -> fan-out -> email over real SMTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dsn_core.addresses import set_address
from dsn_core.models import Delivery
from dsn_core.unsubscribe import unsubscribe_url
from tests.dsn_email.conftest import smtp_connection
from tests.dsn_email.smtp_server import FakeSMTP
from tests.fakes import free_port
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw", first_name="Alice")


def save_article(capture: Any, title: str = "Hello") -> Article:
    with capture(execute=True):
        return Article.objects.create(title=title)


def test_post_save_reaches_the_smtp_server(
    make_flow: Any, alice: Any, smtp: FakeSMTP, smtp_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_flow(
        Article,
        messenger="email",
        users=[alice],
        options={"connection": "test"},
        subject="New article: {{ instance.title }}",
        text="{{ recipient.first_name }}, read {{ instance }}.",
    )
    save_article(django_capture_on_commit_callbacks, "Signals 101")

    [got] = smtp.received
    delivery = Delivery.objects.get()
    assert delivery.status == "sent", delivery.last_error
    assert delivery.address == "alice@example.com"
    assert got.rcpt_tos == ["alice@example.com"]
    assert got.message["Subject"] == "New article: Signals 101"
    assert got.text.strip() == "Alice, read Signals 101."
    assert delivery.provider_id == got.message["Message-ID"]
    # the header may be folded onto its own line (RFC 5322 folding whitespace); the URL is whole
    expected = unsubscribe_url(delivery)
    assert expected.startswith("https://example.test/dsn/")
    assert got.message["List-Unsubscribe"].strip() == f"<{expected}>"
    assert got.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_user_without_address_is_skipped_not_failed(
    make_flow: Any,
    alice: Any,
    django_user_model: Any,
    smtp: FakeSMTP,
    smtp_settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    nomail = django_user_model.objects.create_user("nomail", "", "pw")
    booked = django_user_model.objects.create_user("booked", "", "pw")
    set_address(booked, "email", "booked@example.com")
    make_flow(Article, messenger="email", users=[alice, nomail, booked], options={"connection": "test"})
    save_article(django_capture_on_commit_callbacks)

    by_user = {d.recipient.username: d for d in Delivery.objects.select_related("recipient")}
    assert by_user["nomail"].status == "skipped"
    assert by_user["nomail"].last_error == "no address on this channel"
    assert by_user["alice"].status == "sent"
    assert by_user["booked"].status == "sent" and by_user["booked"].address == "booked@example.com"
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == ["alice@example.com", "booked@example.com"]


def test_fixed_list_address(
    make_flow: Any, smtp: FakeSMTP, smtp_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_flow(Article, messenger="email", options={"connection": "test"}, fixed={"email": ["ops@example.com"]})
    save_article(django_capture_on_commit_callbacks)
    [got] = smtp.received
    assert got.rcpt_tos == ["ops@example.com"]
    assert got.message["List-Unsubscribe"] is None  # nobody to unsubscribe: a list address
    assert Delivery.objects.get().status == "sent"


def test_451_is_retried_and_the_second_attempt_succeeds(
    make_flow: Any,
    alice: Any,
    smtp: FakeSMTP,
    smtp_settings: Any,
    dsn_flush: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    smtp.rcpt_replies["alice@example.com"] = "451 4.7.1 Greylisted, come back later"
    make_flow(Article, messenger="email", users=[alice], options={"connection": "test"})
    before = timezone.now()
    save_article(django_capture_on_commit_callbacks)

    delivery = Delivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.attempts == 1
    assert "451" in delivery.last_error
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at >= before
    assert smtp.received == []
    # Full jitter may pick a delay near zero; pin it in the future to check "not due yet".
    Delivery.objects.update(next_attempt_at=timezone.now() + timedelta(hours=1))
    assert dsn_flush() == {"sent": 0, "failed": 0, "dead": 0, "lost": 0}  # not due yet

    del smtp.rcpt_replies["alice@example.com"]
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))  # the backoff has passed
    assert dsn_flush()["sent"] == 1

    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 2 and delivery.last_error == ""
    assert [r.rcpt_tos for r in smtp.received] == [["alice@example.com"]]


def test_550_is_dead_at_once(
    make_flow: Any, alice: Any, smtp: FakeSMTP, smtp_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    smtp.rcpt_replies["alice@example.com"] = "550 5.1.1 Mailbox unavailable"
    make_flow(Article, messenger="email", users=[alice], options={"connection": "test"})
    save_article(django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert delivery.status == "dead"
    assert "550" in delivery.last_error and "Mailbox unavailable" in delivery.last_error
    assert delivery.next_attempt_at is None


def test_server_down_fails_transiently(
    make_flow: Any, alice: Any, email_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    email_settings(CONNECTIONS={"down": smtp_connection(free_port())})
    make_flow(Article, messenger="email", users=[alice], options={"connection": "down"})
    save_article(django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.next_attempt_at is not None
    assert "cannot reach the mail server" in delivery.last_error


def test_bad_credentials_fail_as_configuration_without_leaking(
    make_flow: Any, alice: Any, email_settings: Any, django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    with FakeSMTP(credentials=("dsn", "right")) as server:
        email_settings(CONNECTIONS={"bad": smtp_connection(server.port, username="dsn", password="hunter2-wrong")})
        make_flow(Article, messenger="email", users=[alice], options={"connection": "bad"})
        save_article(django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert delivery.status == "failed"  # configuration errors are retried: an admin can fix them
    assert "authentication failed" in delivery.last_error
    assert "hunter2" not in delivery.last_error
    assert "hunter2" not in caplog.text
    assert any("configuration error" in r.getMessage() for r in caplog.records)
