"""The ``sms`` messenger against a fake Twilio API over loopback, with the real twilio client."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from dsn_sms.messenger import MAX_BODY, SmsMessenger

from dsn_core.addresses import get_address, set_address
from dsn_core.errors import ConfigurationError, PermanentError, TransientError
from dsn_core.messengers import Message, RateLimit, SendResult
from dsn_core.testing import MessengerContract
from tests.fakes import free_port

from .conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, MESSAGES_PATH, SERVICE_SID, FakeTwilio

TO = "+14155550123"


def message(text: str = "Order 42 shipped", address: str = TO, subject: str = "Shipping") -> Message:
    return Message(address=address, subject=subject, text=text, delivery_id=7)


def send_one(msg: Message, options: dict[str, Any] | None = None) -> Any:
    with SmsMessenger(options or {}) as messenger:
        return messenger.send_batch([msg])[0]


class TestSmsContract(MessengerContract):
    @pytest.fixture
    def messenger(self, configure: Any) -> SmsMessenger:
        return SmsMessenger({})

    @pytest.fixture
    def address(self) -> str:
        return TO

    @pytest.fixture
    def received(self, twilio: FakeTwilio) -> Any:
        return lambda: [{"text": r.form.get("Body", ""), **r.form} for r in twilio.sent]


# -- the request Twilio receives ---------------------------------------------------------


def test_send_posts_the_form_twilio_expects(configure: Any, twilio: FakeTwilio) -> None:
    outcome = send_one(message())
    assert isinstance(outcome, SendResult)
    assert outcome.provider_id.startswith("SM") and len(outcome.provider_id) == 34
    (request,) = twilio.sent
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.form == {"To": TO, "From": FROM_NUMBER, "Body": "Order 42 shipped"}
    user, _, password = base64.b64decode(request.headers["Authorization"].split()[1]).decode().partition(":")
    assert (user, password) == (ACCOUNT_SID, AUTH_TOKEN)


def test_batch_uses_one_client_and_returns_each_sid(configure: Any, twilio: FakeTwilio) -> None:
    with SmsMessenger({}) as messenger:
        outcomes = messenger.send_batch([message("a"), message("b", address="+447700900123")])
    assert [type(o) for o in outcomes] == [SendResult, SendResult]
    assert outcomes[0].provider_id != outcomes[1].provider_id
    assert [r.form["To"] for r in twilio.sent] == [TO, "+447700900123"]


def test_messaging_service_replaces_from(configure: Any, twilio: FakeTwilio) -> None:
    configure(FROM_NUMBER=None, MESSAGING_SERVICE_SID=SERVICE_SID)
    assert isinstance(send_one(message()), SendResult)
    assert twilio.sent[0].form["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in twilio.sent[0].form


def test_backend_options_override_the_sender(configure: Any, twilio: FakeTwilio) -> None:
    send_one(message(), {"from_number": "+1 (500) 555-0001"})
    send_one(message(), {"messaging_service_sid": SERVICE_SID})
    assert twilio.sent[0].form["From"] == "+15005550001"
    assert twilio.sent[1].form["MessagingServiceSid"] == SERVICE_SID and "From" not in twilio.sent[1].form


def test_status_callback_is_requested_when_configured(configure: Any, twilio: FakeTwilio) -> None:
    configure(STATUS_CALLBACK_URL="https://example.test/dsn/sms/status/")
    send_one(message())
    assert twilio.sent[0].form["StatusCallback"] == "https://example.test/dsn/sms/status/"


def test_subject_line_and_length_limit(configure: Any, twilio: FakeTwilio) -> None:
    send_one(message("body text"), {"include_subject": True})
    send_one(message("word " * 30), {"max_length": 40})
    send_one(message("x" * 5000), {"max_segments": 24})
    bodies = [r.form["Body"] for r in twilio.sent]
    assert bodies[0] == "Shipping\nbody text"
    assert len(bodies[1]) <= 40 and bodies[1].endswith("...") and bodies[1].startswith("word word")  # GSM-7 stays GSM-7
    assert len(bodies[2]) == MAX_BODY and bodies[2].endswith("...")


def test_texts_are_cut_to_max_segments_default_three(configure: Any, twilio: FakeTwilio) -> None:
    send_one(message("x" * 1000))  # GSM-7: 3 segments hold 3 x 153 = 459
    send_one(message("س" * 1000))  # UCS-2: 3 x 67 = 201
    send_one(message("word " * 100), {"max_segments": 1})
    gsm, persian, one = (r.form["Body"] for r in twilio.sent)
    assert gsm == "x" * 456 + "..." and persian == "س" * 200 + "…"
    assert len(one) <= 160 and one.endswith("word...")


def test_a_71_character_persian_text_is_sent_whole_in_two_segments(configure: Any, twilio: FakeTwilio) -> None:
    text = ("سلام " * 15)[:71]
    outcome = send_one(message(text))
    assert isinstance(outcome, SendResult) and twilio.sent[0].form["Body"] == text.strip()
    notes = SmsMessenger({}).preview_notes(message(text))
    assert notes[0].startswith("2 SMS segments (UCS-2, 71 characters") and len(notes) == 1


def test_preview_notes_say_why_and_when_a_text_is_cut() -> None:
    assert SmsMessenger({}).preview_notes(message("Your order [42] ships {today} for 5€")) == [
        "1 SMS segment (GSM-7, 41 GSM-7 characters: 160 fit in one SMS, 153 per segment)"  # 36 + 5 escapes
    ]
    curly = SmsMessenger({}).preview_notes(message("It\u2019s here"))
    assert "UCS-2 because of '\u2019'" in curly[0]
    cut = SmsMessenger({"max_segments": 1}).preview_notes(message("y" * 200))
    assert cut[0].startswith("2 SMS segments (GSM-7, 200") and "cut to 160 characters, 1 segment(s)" in cut[1]


def test_address_that_is_not_a_phone_number_fails_without_calling_twilio(configure: Any, twilio: FakeTwilio) -> None:
    outcome = send_one(message(address="user:12"))
    assert isinstance(outcome, PermanentError) and "E.164" in str(outcome)
    assert twilio.sent == []


# -- Twilio's errors ---------------------------------------------------------------------


def legacy_error(code: int, status: int, text: str) -> dict[str, Any]:
    return {"code": code, "message": text, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (21211, "The 'To' number +1415 is not a valid phone number."),
        (21614, "'To' number is not a valid mobile number"),
    ],
)
def test_bad_recipient_is_permanent(configure: Any, twilio: FakeTwilio, code: int, text: str) -> None:
    twilio.answer(400, legacy_error(code, 400, text))
    outcome = send_one(message())
    assert isinstance(outcome, PermanentError) and not isinstance(outcome, TransientError)
    assert str(code) in str(outcome) and text in str(outcome)


@pytest.mark.django_db
def test_stop_reply_is_permanent_and_deactivates_the_number(
    configure: Any, twilio: FakeTwilio, django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user("ann")
    set_address(user, "sms", TO)
    twilio.answer(400, legacy_error(21610, 400, "Attempt to send to unsubscribed recipient"))
    outcome = send_one(message())
    assert isinstance(outcome, PermanentError) and "21610" in str(outcome)
    assert get_address(user, "sms") is None


def test_bad_credentials_are_a_configuration_error_without_the_token(configure: Any, twilio: FakeTwilio) -> None:
    twilio.answer(401, legacy_error(20003, 401, f"Authenticate (token {AUTH_TOKEN} refused)"))
    outcome = send_one(message())
    assert isinstance(outcome, ConfigurationError) and "20003" in str(outcome)
    assert AUTH_TOKEN not in str(outcome) and "***" in str(outcome)


def test_throttling_is_transient_with_retry_after(configure: Any, twilio: FakeTwilio) -> None:
    twilio.answer(429, legacy_error(20429, 429, "Too Many Requests"), {"Retry-After": "7"})
    outcome = send_one(message())
    assert isinstance(outcome, TransientError) and outcome.retry_after == 7.0


def test_throttling_honours_a_retry_after_http_date(configure: Any, twilio: FakeTwilio) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    twilio.answer(429, legacy_error(20429, 429, "Too Many Requests"), {"Retry-After": when})
    outcome = send_one(message())
    assert isinstance(outcome, TransientError) and outcome.retry_after is not None
    assert 80 <= outcome.retry_after <= 91


def test_an_error_text_echoing_the_token_is_scrubbed(configure: Any, twilio: FakeTwilio) -> None:
    twilio.answer(400, legacy_error(21602, 400, f"bad request for token {AUTH_TOKEN}"))
    failed = send_one(message())
    twilio.answer(500, rfc9457(20500, 500, "Internal", f"debug: auth={AUTH_TOKEN}"))
    down = send_one(message())
    assert isinstance(failed, PermanentError) and isinstance(down, TransientError)
    assert AUTH_TOKEN not in str(failed) and AUTH_TOKEN not in str(down) and "***" in str(failed)


def test_one_bad_number_in_a_batch_fails_only_itself(configure: Any, twilio: FakeTwilio) -> None:
    good = twilio.created

    def answer(request: Any) -> Any:
        if request.form["To"] == "+15005550001":
            return 400, {}, legacy_error(21211, 400, "The 'To' number +15005550001 is not a valid phone number.")
        return good(request)

    twilio.server.route("POST", MESSAGES_PATH, answer)
    with SmsMessenger({}) as messenger:
        outcomes = messenger.send_batch([message("a"), message("b", address="+15005550001"), message("c")])
    assert [type(o) for o in outcomes] == [SendResult, PermanentError, SendResult]
    assert len(twilio.sent) == 3


def test_http_429_without_a_twilio_code_is_transient(configure: Any, twilio: FakeTwilio) -> None:
    twilio.answer(429, "slow down", {"Content-Type": "text/plain"})
    outcome = send_one(message())
    assert isinstance(outcome, TransientError) and outcome.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(configure: Any, twilio: FakeTwilio, status: int) -> None:
    twilio.answer(status, {"code": status, "message": "Service unavailable", "status": status})
    assert isinstance(send_one(message()), TransientError)


def test_unknown_client_error_is_permanent(configure: Any, twilio: FakeTwilio) -> None:
    twilio.answer(400, legacy_error(21602, 400, "Message body is required."))
    outcome = send_one(message())
    assert isinstance(outcome, PermanentError) and "21602" in str(outcome)


def rfc9457(code: int, status: int, title: str, detail: str = "") -> dict[str, Any]:
    return {
        "type": f"https://www.twilio.com/docs/errors/{code}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
        "instance": "/Messages",
    }


def test_rfc9457_errors_are_understood(configure: Any, twilio: FakeTwilio) -> None:
    twilio.answer(400, rfc9457(21211, 400, "Invalid 'To' Phone Number", "+1415 is not valid"))
    bad_number = send_one(message())
    twilio.answer(401, rfc9457(20003, 401, "Authentication Error"))
    bad_credentials = send_one(message())
    twilio.answer(503, rfc9457(20500, 503, "Service Unavailable"), {"Retry-After": "30"})
    down = send_one(message())
    assert isinstance(bad_number, PermanentError) and "+1415 is not valid" in str(bad_number)
    assert isinstance(bad_credentials, ConfigurationError)
    assert isinstance(down, TransientError) and down.retry_after == 30.0


def test_timeout_is_transient(configure: Any, twilio: FakeTwilio) -> None:
    configure(TIMEOUT=0.2)
    twilio.hang()
    outcome = send_one(message())
    assert isinstance(outcome, TransientError) and "in time" in str(outcome)


def test_unreachable_server_is_transient(configure: Any, twilio: FakeTwilio) -> None:
    configure(API_BASE_URL=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    outcome = send_one(message())
    assert isinstance(outcome, TransientError) and "connect" in str(outcome)


def test_missing_credentials_fail_each_message_as_configuration(configure: Any, twilio: FakeTwilio) -> None:
    configure(AUTH_TOKEN=None)
    with SmsMessenger({}) as messenger:
        outcomes = messenger.send_batch([message("a"), message("b")])
    assert all(isinstance(o, ConfigurationError) for o in outcomes)
    assert 'DSN["SMS"]["AUTH_TOKEN"]' in str(outcomes[0]) and "DSN_SMS_AUTH_TOKEN" in str(outcomes[0])
    assert twilio.sent == []


def test_environment_fallbacks(configure: Any, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(ACCOUNT_SID=None, AUTH_TOKEN=None)
    monkeypatch.setenv("DSN_SMS_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("DSN_SMS_AUTH_TOKEN", AUTH_TOKEN)
    assert isinstance(send_one(message()), SendResult)
    assert SmsMessenger.check() == []


def test_token_never_reaches_the_logs(configure: Any, twilio: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    send_one(message())
    twilio.answer(401, legacy_error(20003, 401, "Authenticate"))
    send_one(message())
    assert caplog.records, "twilio's client should have logged the requests at DEBUG"
    assert AUTH_TOKEN not in caplog.text


# -- checks, options, addresses, limits --------------------------------------------------


@pytest.mark.parametrize("missing", ["ACCOUNT_SID", "AUTH_TOKEN"])
def test_check_names_the_missing_credential(configure: Any, missing: str) -> None:
    configure(**{missing: None})
    (error,) = SmsMessenger.check()
    assert error.id == "dsn_sms.E001" and f'DSN["SMS"]["{missing}"]' in error.msg


def test_check_needs_a_sender_and_never_shows_the_token(configure: Any) -> None:
    configure(FROM_NUMBER=None)
    (error,) = SmsMessenger.check()
    assert "FROM_NUMBER" in error.msg and "MESSAGING_SERVICE_SID" in error.msg
    assert AUTH_TOKEN not in error.msg


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"FROM_NUMBER": "+1 call me!"}, "FROM_NUMBER"),
        ({"TIMEOUT": 0}, "TIMEOUT"),
        ({"TIMEOUT": "soon"}, "TIMEOUT"),
        ({"API_BASE_URL": "api.twilio.com"}, "API_BASE_URL"),
        ({"STATUS_CALLBACK_URL": "/sms/"}, "STATUS_CALLBACK_URL"),
        ({"MESSAGING_SERVICE_SID": "MG1"}, "MESSAGING_SERVICE_SID"),
    ],
)
def test_check_rejects_malformed_settings(configure: Any, overrides: dict[str, Any], needle: str) -> None:
    configure(**overrides)
    messages = SmsMessenger.check()
    assert [m.id for m in messages] == ["dsn_sms.E001"] and needle in messages[0].msg


def test_check_warns_about_odd_sids_and_alphanumeric_senders(configure: Any) -> None:
    configure(ACCOUNT_SID="AC123", FROM_NUMBER="ACME")
    assert sorted(m.id for m in SmsMessenger.check()) == ["dsn_sms.W001", "dsn_sms.W002"]


def test_clean_address_normalises_to_e164() -> None:
    assert SmsMessenger.clean_address(" +1 (415) 555-0123 ") == "+14155550123"
    assert SmsMessenger.clean_address("0044 20 7946 0958") == "+442079460958"
    for bad in ("4155550123", "+0123456", "call me", "+1234567890123456"):
        with pytest.raises(ValidationError):
            SmsMessenger.clean_address(bad)


@pytest.mark.parametrize(
    "options",
    [
        {"from_number": "not a number!"},
        {"messaging_service_sid": "MG12"},
        {"max_length": 0},
        {"max_length": 1601},
        {"max_segments": 0},
        {"max_segments": 25},
        {"max_segments": "many"},
        {"from_number": FROM_NUMBER, "messaging_service_sid": SERVICE_SID},
    ],
)
def test_bad_options_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SmsMessenger.clean_options(options)


def test_good_options_are_cleaned() -> None:
    assert SmsMessenger.clean_options({"from_number": "00 1 500 555 0001"}) == {
        "from_number": "+15005550001",
        "include_subject": False,
        "max_length": MAX_BODY,
        "max_segments": 3,
    }
    assert SmsMessenger.clean_options({"from_number": "ACME"})["from_number"] == "ACME"


@pytest.mark.django_db
def test_addresses_from_a_user_attribute_fall_back_to_the_address_book(configure: Any, django_user_model: Any) -> None:
    configure(PHONE_ATTRIBUTE="last_name")
    with_attr = django_user_model.objects.create_user("a", last_name="+44 7700 900123")
    bad_attr = django_user_model.objects.create_user("b", last_name="call me")
    book_only = django_user_model.objects.create_user("c")
    nothing = django_user_model.objects.create_user("d")
    set_address(bad_attr, "sms", "+15005550002")
    set_address(book_only, "sms", "+15005550003")
    found = SmsMessenger({}).addresses_for([with_attr, bad_attr, book_only, nothing])
    assert found == {with_attr.pk: "+447700900123", bad_attr.pk: "+15005550002", book_only.pk: "+15005550003"}
    assert SmsMessenger({}).address_for(nothing) is None


@pytest.mark.django_db
def test_addresses_come_from_the_address_book_by_default(configure: Any, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("a", last_name="+447700900123")
    assert SmsMessenger({}).address_for(user) is None
    set_address(user, "sms", TO)
    assert SmsMessenger({}).address_for(user) == TO


@pytest.mark.parametrize(
    ("rate", "limit"), [(None, RateLimit(1, 1.0)), (10, RateLimit(10, 1.0)), (0.5, RateLimit(1, 2.0))]
)
def test_rate_limit_follows_messages_per_second(configure: Any, rate: float | None, limit: RateLimit) -> None:
    if rate is not None:
        configure(MESSAGES_PER_SECOND=rate)
    assert list(SmsMessenger({}).rate_limits_for(TO)) == [limit]
