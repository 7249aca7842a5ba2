"""The email messenger against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from dsn_email.messenger import EmailMessenger

from dsn_core.errors import ConfigurationError, PermanentError, TransientError
from dsn_core.messengers import Message, SendResult
from tests.dsn_email.conftest import FROM, smtp_connection
from tests.dsn_email.smtp_server import FakeSMTP
from tests.fakes import free_port

UNSUB = "https://example.test/dsn/unsubscribe/abc123/"


def msg(address: str, text: str = "Body", **kwargs: object) -> Message:
    kwargs.setdefault("delivery_id", 7)
    return Message(address=address, subject=kwargs.pop("subject", "Greetings"), text=text, **kwargs)  # type: ignore[arg-type]


def test_content_and_headers_as_received(messenger: EmailMessenger, smtp: FakeSMTP) -> None:
    outcome = messenger.send(msg("alice@example.com", "Hello Alice\nSecond line", unsubscribe_url=UNSUB))

    assert isinstance(outcome, SendResult)
    [got] = smtp.received
    m = got.message
    assert got.rcpt_tos == ["alice@example.com"]
    assert got.mail_from == "noreply@dsn.test"
    assert m["From"] == FROM
    assert m["To"] == "alice@example.com"
    assert m["Reply-To"] == "help@dsn.test"
    assert m["Subject"] == "Greetings"
    assert m["List-Unsubscribe"] == f"<{UNSUB}>"
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert m["Auto-Submitted"] == "auto-generated"
    assert m["Message-ID"] == outcome.provider_id
    assert outcome.provider_id.endswith("@dsn.test>")
    assert got.text.strip() == "Hello Alice\nSecond line"
    assert not m.is_multipart()  # no HTML in the template: a plain text email


def test_message_id_is_stable_per_delivery(messenger: EmailMessenger, smtp: FakeSMTP, settings: Any) -> None:
    """A retry of a delivery reuses its Message-ID (mailbox providers deduplicate by it); another
    delivery, or the same delivery id on another site (SECRET_KEY), gets another one."""
    first = messenger.send(msg("alice@example.com", "x", delivery_id=41)).provider_id
    retry = messenger.send(msg("alice@example.com", "x", delivery_id=41)).provider_id
    other = messenger.send(msg("alice@example.com", "x", delivery_id=42)).provider_id
    settings.SECRET_KEY = "another-site-" + "k" * 40
    elsewhere = messenger.send(msg("alice@example.com", "x", delivery_id=41)).provider_id
    assert first == retry and first.startswith("<dsn-41.") and first.endswith("@dsn.test>")
    assert len({first, other, elsewhere}) == 3
    assert [m.message["Message-ID"] for m in smtp.received] == [first, retry, other, elsewhere]


def test_html_alternative(messenger: EmailMessenger, smtp: FakeSMTP) -> None:
    messenger.send(msg("bob@example.com", "plain version", html="<p>rich <b>version</b></p>"))

    [got] = smtp.received
    assert got.message.get_content_type() == "multipart/alternative"
    assert got.text.strip() == "plain version"
    assert got.html.strip() == "<p>rich <b>version</b></p>"


def test_no_unsubscribe_headers_without_url(messenger: EmailMessenger, smtp: FakeSMTP) -> None:
    messenger.send(msg("ops@example.com"))
    assert smtp.received[0].message["List-Unsubscribe"] is None
    assert smtp.received[0].message["List-Unsubscribe-Post"] is None


def test_batch_goes_over_one_smtp_session(messenger: EmailMessenger, smtp: FakeSMTP) -> None:
    addresses = [f"user{i}@example.com" for i in range(8)]
    with messenger:
        outcomes = messenger.send_batch([msg(a, f"text for {a}", delivery_id=i) for i, a in enumerate(addresses, 1)])

    assert all(isinstance(o, SendResult) for o in outcomes), outcomes
    assert len({o.provider_id for o in outcomes}) == 8
    assert len(smtp.received) == 8
    assert len(smtp.sessions) == 1
    # one email per recipient, each with its own text
    for address in addresses:
        [got] = smtp.by_recipient(address)
        assert got.rcpt_tos == [address]
        assert got.text.strip() == f"text for {address}"


def test_send_batch_without_open_still_uses_one_session(messenger: EmailMessenger, smtp: FakeSMTP) -> None:
    outcomes = messenger.send_batch([msg("a@example.com"), msg("b@example.com")])
    assert [type(o) for o in outcomes] == [SendResult, SendResult]
    assert len(smtp.sessions) == 1
    messenger.send(msg("c@example.com"))
    assert len(smtp.sessions) == 2  # send() outside a `with` opens and closes its own


def test_refused_recipient_is_permanent_and_only_fails_itself(messenger: EmailMessenger, smtp: FakeSMTP) -> None:
    smtp.rcpt_replies["nobody@example.com"] = "550 5.1.1 No such user here"
    with messenger:
        outcomes = messenger.send_batch([msg("a@example.com"), msg("nobody@example.com"), msg("b@example.com")])

    assert isinstance(outcomes[0], SendResult) and isinstance(outcomes[2], SendResult)
    assert isinstance(outcomes[1], PermanentError)
    assert "550" in str(outcomes[1]) and "No such user" in str(outcomes[1])
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == ["a@example.com", "b@example.com"]
    assert len(smtp.sessions) == 1  # the session survives a refused recipient


def test_temporary_failure_is_transient(messenger: EmailMessenger, smtp: FakeSMTP) -> None:
    smtp.rcpt_replies["grey@example.com"] = "451 4.7.1 Greylisted, try again later"
    outcome = messenger.send_batch([msg("grey@example.com")])[0]
    assert isinstance(outcome, TransientError)
    assert "451" in str(outcome)
    assert smtp.received == []


def test_disconnect_mid_batch_is_transient_and_reconnects(messenger: EmailMessenger, smtp: FakeSMTP) -> None:
    smtp.drop_on.add("drop@example.com")
    with messenger:
        outcomes = messenger.send_batch([msg("a@example.com"), msg("drop@example.com"), msg("b@example.com")])

    assert isinstance(outcomes[0], SendResult)
    assert isinstance(outcomes[1], TransientError), outcomes[1]
    assert isinstance(outcomes[2], SendResult), outcomes[2]
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == ["a@example.com", "b@example.com"]
    assert len(smtp.sessions) == 2


def test_server_down_is_transient(email_settings: object) -> None:
    port = free_port()  # nothing listens here
    email_settings(CONNECTIONS={"down": smtp_connection(port)}, TIMEOUT=5)  # type: ignore[operator]
    messenger = EmailMessenger({"connection": "down"})
    with messenger:
        outcomes = messenger.send_batch([msg("a@example.com"), msg("b@example.com")])
    assert all(isinstance(o, TransientError) for o in outcomes)
    assert "cannot reach the mail server" in str(outcomes[0])
    with pytest.raises(TransientError):
        messenger.send(msg("a@example.com"))


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never says a word (a hung mail server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(5)
        yield sock.getsockname()[1]


def test_timeout_is_transient(email_settings: object, silent_server: int) -> None:
    email_settings(CONNECTIONS={"hung": smtp_connection(silent_server)}, TIMEOUT=0.3)  # type: ignore[operator]
    outcome = EmailMessenger({"connection": "hung"}).send_batch([msg("a@example.com")])[0]
    assert isinstance(outcome, TransientError)
    assert "timed out" in str(outcome)


def test_authentication_failure_is_a_configuration_error(email_settings: object) -> None:
    with FakeSMTP(credentials=("dsn", "right-password")) as server:
        email_settings(
            CONNECTIONS={  # type: ignore[operator]
                "bad": smtp_connection(server.port, username="dsn", password="s3cret-wrong"),
                "good": smtp_connection(server.port, username="dsn", password="right-password"),
            }
        )
        outcomes = EmailMessenger({"connection": "bad"}).send_batch([msg("a@example.com"), msg("b@example.com")])
        assert all(isinstance(o, ConfigurationError) for o in outcomes), outcomes
        assert "authentication failed" in str(outcomes[0])
        assert "535" in str(outcomes[0])
        assert "s3cret-wrong" not in str(outcomes[0])
        assert server.received == [] and server.auth_failures > 0
        assert len(server.sessions) == 1  # one login attempt for the whole batch, not one per message

        assert isinstance(EmailMessenger({"connection": "good"}).send(msg("a@example.com")), SendResult)
        assert len(server.received) == 1


@pytest.mark.parametrize("address", ["not-an-email", "", "two@example.com, three@example.com"])
def test_invalid_address_is_permanent(messenger: EmailMessenger, smtp: FakeSMTP, address: str) -> None:
    outcome = messenger.send_batch([msg(address)])[0]
    assert isinstance(outcome, PermanentError)
    assert smtp.received == []


def test_subject_prefix_and_newlines(smtp_settings: object, smtp: FakeSMTP) -> None:
    messenger = EmailMessenger({"connection": "test", "subject_prefix": "[Shop] "})
    messenger.send(msg("a@example.com", subject="Order\n  shipped"))
    assert smtp.received[0].message["Subject"] == "[Shop] Order shipped"


def test_from_and_reply_to_per_backend(smtp_settings: object, smtp: FakeSMTP) -> None:
    messenger = EmailMessenger(
        {"connection": "test", "from_email": "Shop <shop@shop.test>", "reply_to": "a@shop.test, b@shop.test"}
    )
    result = messenger.send(msg("a@example.com"))
    m = smtp.received[0].message
    assert m["From"] == "Shop <shop@shop.test>"
    assert m["Reply-To"] == "a@shop.test, b@shop.test"
    assert smtp.received[0].mail_from == "shop@shop.test"
    assert result.provider_id.endswith("@shop.test>")


def test_display_name_address_is_delivered(messenger: EmailMessenger, smtp: FakeSMTP) -> None:
    messenger.send(msg("Ops Team <ops@example.com>"))
    assert smtp.received[0].rcpt_tos == ["ops@example.com"]
    assert smtp.received[0].message["To"] == "Ops Team <ops@example.com>"


def test_default_connection_is_the_sites_own(email_settings: object, mailoutbox: list) -> None:
    email_settings(FROM="noreply@dsn.test")  # type: ignore[operator]
    result = EmailMessenger().send(msg("a@example.com", html="<p>x</p>"))  # the test runner's locmem backend
    [sent] = mailoutbox
    assert sent.to == ["a@example.com"]
    assert sent.alternatives[0][0] == "<p>x</p>"
    assert sent.extra_headers["Message-ID"] == result.provider_id


def test_mailers_setting_alias(settings: object, smtp: FakeSMTP, email_settings: object) -> None:
    """A MAILERS alias works on Django 5.2 too (built from the same dict), so sites migrate once."""
    email_settings(FROM="noreply@dsn.test")  # type: ignore[operator]
    settings.MAILERS = {"notify": smtp_connection(smtp.port, timeout=5)}  # type: ignore[attr-defined]
    assert EmailMessenger.clean_options({"connection": "notify"}) == {"connection": "notify"}
    assert isinstance(EmailMessenger({"connection": "notify"}).send(msg("a@example.com")), SendResult)
    assert smtp.received[0].rcpt_tos == ["a@example.com"]
