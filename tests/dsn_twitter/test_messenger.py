"""The ``twitter`` messenger against a fake X API v2 over loopback, with the real tweepy client."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from dsn_twitter.messenger import TwitterMessenger
from dsn_twitter.text import weighted_length

from dsn_core.addresses import set_address
from dsn_core.errors import ConfigurationError, PermanentError, TransientError
from dsn_core.messengers import Message, RateLimit, SendResult
from dsn_core.testing import MessengerContract
from tests.fakes import free_port

from .conftest import CREDENTIALS, DMS, FakeX

USER_ID = "2244994945"
SECRETS = (CREDENTIALS["CONSUMER_SECRET"], CREDENTIALS["ACCESS_TOKEN_SECRET"])


def message(text: str = "Release 1.2 is out", address: str = "timeline", subject: str = "News") -> Message:
    return Message(address=address, subject=subject, text=text, delivery_id=3)


def send_one(msg: Message, **options: Any) -> Any:
    with TwitterMessenger(options) as messenger:
        return messenger.send_batch([msg])[0]


def problem(status: int, title: str, detail: str, type_: str = "about:blank") -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": type_, "status": status}


class TestTweetContract(MessengerContract):
    @pytest.fixture
    def messenger(self, configure: Any) -> TwitterMessenger:
        return TwitterMessenger({"mode": "tweet"})

    @pytest.fixture
    def address(self) -> str:
        return "timeline"

    @pytest.fixture
    def received(self, x_api: FakeX) -> Any:
        return lambda: [r.json for r in x_api.received]


class TestDirectMessageContract(TestTweetContract):
    @pytest.fixture
    def messenger(self, configure: Any) -> TwitterMessenger:
        return TwitterMessenger({"mode": "dm"})

    @pytest.fixture
    def address(self) -> str:
        return USER_ID


# -- what X receives ---------------------------------------------------------------------


def test_tweet_posts_json_with_oauth1_user_context(configure: Any, x_api: FakeX) -> None:
    outcome = send_one(message())
    assert isinstance(outcome, SendResult) and outcome.provider_id.isdigit()
    (request,) = x_api.received
    assert request.path == "/2/tweets" and request.json == {"text": "Release 1.2 is out"}
    auth = request.headers["Authorization"]
    assert auth.startswith("OAuth ") and "oauth_signature=" in auth
    assert f'oauth_consumer_key="{CREDENTIALS["CONSUMER_KEY"]}"' in auth
    assert all(secret not in auth for secret in SECRETS)


def test_dm_goes_to_the_participant(configure: Any, x_api: FakeX) -> None:
    outcome = send_one(message(address=USER_ID), mode="dm")
    assert isinstance(outcome, SendResult) and outcome.provider_id.isdigit()
    (request,) = x_api.received
    assert request.path == f"/2/dm_conversations/with/{USER_ID}/messages"
    assert request.json == {"text": "Release 1.2 is out"}


def test_dm_to_something_that_is_not_a_user_id_fails_without_a_request(configure: Any, x_api: FakeX) -> None:
    for address in ("timeline", "@jack", ""):
        outcome = send_one(message(address=address), mode="dm")
        assert isinstance(outcome, PermanentError) and "user id" in str(outcome)
    assert x_api.received == []


def test_long_tweets_are_cut_to_280_and_dms_are_not(configure: Any, x_api: FakeX) -> None:
    long = "lorem ipsum " * 60
    send_one(message(long))
    send_one(message(long, address=USER_ID), mode="dm")
    tweet, dm = (r.json["text"] for r in x_api.received)
    assert weighted_length(tweet) <= 280 and tweet.endswith("…")
    assert dm == long.strip()


def test_a_text_of_bare_domains_is_cut_before_it_reaches_x(configure: Any, x_api: FakeX) -> None:
    links = " ".join(f"shop{i}.io" for i in range(12))  # 107 characters, 287 as X counts (each domain is 23)
    outcome = send_one(message(links))
    (request,) = x_api.received
    assert isinstance(outcome, SendResult)
    assert request.json["text"] == " ".join(f"shop{i}.io" for i in range(11)) + "…"


def test_zwj_emoji_count_two_each_on_the_wire(configure: Any, x_api: FakeX) -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    send_one(message(family * 140))  # 980 code points, 280 as X counts: fits exactly
    assert x_api.received[0].json["text"] == family * 140


def test_preview_notes_give_xs_count() -> None:
    short = TwitterMessenger({}).preview_notes(message("New in shop.io: \U0001f468\u200d\U0001f469\u200d\U0001f467"))
    assert short == ["X counts 34 of 280 for a post (each URL 23, each emoji 2, CJK characters 2)."]
    over = TwitterMessenger({}).preview_notes(message("日本語 " * 100))
    assert over[0].startswith("X counts 699 of 280") and "cut to 2" in over[0]
    assert "of 10000 for a direct message" in TwitterMessenger({"mode": "dm"}).preview_notes(message("hi"))[0]


def test_subject_line_and_empty_text(configure: Any, x_api: FakeX) -> None:
    send_one(message("body"), include_subject=True)
    empty = send_one(message("   "))
    assert x_api.received[0].json["text"] == "News\nbody"
    assert isinstance(empty, PermanentError) and len(x_api.received) == 1


# -- X's errors --------------------------------------------------------------------------


def test_rate_limited_is_transient_until_the_window_resets(configure: Any, x_api: FakeX) -> None:
    reset = int(time.time()) + 600
    x_api.answer(429, problem(429, "Too Many Requests", "Too Many Requests"), {"x-rate-limit-reset": str(reset)})
    outcome = send_one(message())
    assert isinstance(outcome, TransientError)
    assert 590 <= outcome.retry_after <= 600


def test_rate_limited_without_reset_header(configure: Any, x_api: FakeX) -> None:
    x_api.answer(429, problem(429, "Too Many Requests", "Too Many Requests"))
    outcome = send_one(message())
    assert isinstance(outcome, TransientError) and outcome.retry_after is None


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_wins_over_the_window_reset(configure: Any, x_api: FakeX, form: str) -> None:
    when = "45" if form == "seconds" else format_datetime(datetime.now(UTC) + timedelta(seconds=45), usegmt=True)
    headers = {"Retry-After": when, "x-rate-limit-reset": str(int(time.time()) + 900)}
    x_api.answer(429, problem(429, "Too Many Requests", "Too Many Requests"), headers)
    outcome = send_one(message())
    assert isinstance(outcome, TransientError) and 35 <= outcome.retry_after <= 45


def test_an_error_text_echoing_a_secret_is_scrubbed(configure: Any, x_api: FakeX) -> None:
    leak = CREDENTIALS["ACCESS_TOKEN_SECRET"]
    x_api.answer(400, problem(400, "Invalid Request", f"signature base used {leak}"))
    bad = send_one(message())
    x_api.answer(503, problem(503, "Service Unavailable", f"upstream saw {leak}"))
    down = send_one(message())
    assert isinstance(bad, PermanentError) and isinstance(down, TransientError)
    assert leak not in str(bad) and leak not in str(down)


def test_one_bad_participant_in_a_dm_batch_fails_only_itself(configure: Any, x_api: FakeX) -> None:
    def answer(request: Any) -> Any:
        if "/with/1/" in request.path:
            return (
                400,
                {},
                {
                    "title": "Invalid Request",
                    "detail": "participant_id [1] is not valid",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
            )
        return x_api.dm(request)

    x_api.server.route("POST", DMS, answer)
    with TwitterMessenger({"mode": "dm"}) as messenger:
        outcomes = messenger.send_batch([message(address=USER_ID), message(address="1"), message(address="99")])
    assert [type(o) for o in outcomes] == [SendResult, PermanentError, SendResult]


def test_duplicate_tweet_is_permanent(configure: Any, x_api: FakeX) -> None:
    x_api.answer(403, problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."))
    outcome = send_one(message())
    assert isinstance(outcome, PermanentError) and str(outcome).startswith("duplicate")


def test_dm_refused_by_the_recipient_is_permanent(configure: Any, x_api: FakeX) -> None:
    x_api.answer(403, problem(403, "Forbidden", "You are not permitted to perform this action."), path=DMS)
    outcome = send_one(message(address=USER_ID), mode="dm")
    assert isinstance(outcome, PermanentError) and "not permitted" in str(outcome)


def test_read_only_app_is_a_configuration_error(configure: Any, x_api: FakeX) -> None:
    x_api.answer(
        403,
        problem(
            403,
            "Forbidden",
            "Your client app is not configured with the appropriate oauth1 app permissions for this endpoint.",
            "https://api.twitter.com/2/problems/oauth1-permissions",
        ),
    )
    assert isinstance(send_one(message()), ConfigurationError)


def test_bad_credentials_are_a_configuration_error(configure: Any, x_api: FakeX) -> None:
    x_api.answer(401, problem(401, "Unauthorized", f"Unauthorized {CREDENTIALS['CONSUMER_SECRET']}"))
    outcome = send_one(message())
    assert isinstance(outcome, ConfigurationError) and "401" in str(outcome)
    assert all(secret not in str(outcome) for secret in SECRETS)


def test_invalid_participant_is_permanent(configure: Any, x_api: FakeX) -> None:
    x_api.answer(
        400,
        {
            "errors": [
                {
                    "parameters": {"participant_id": ["1"]},
                    "message": "The `participant_id` query parameter value [1] is not valid",
                }
            ],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
        path=DMS,
    )
    outcome = send_one(message(address="1"), mode="dm")
    assert isinstance(outcome, PermanentError) and "participant_id" in str(outcome)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(configure: Any, x_api: FakeX, status: int) -> None:
    x_api.answer(status, problem(status, "Service Unavailable", "Service Unavailable"))
    assert isinstance(send_one(message()), TransientError)


def test_non_json_error_page(configure: Any, x_api: FakeX) -> None:
    x_api.answer(502, "<html>Bad gateway</html>", {"Content-Type": "text/html"})
    outcome = send_one(message())
    assert isinstance(outcome, TransientError) and "502" in str(outcome)


def test_timeout_is_transient(configure: Any, x_api: FakeX) -> None:
    configure(TIMEOUT=0.2)
    x_api.hang()
    outcome = send_one(message())
    assert isinstance(outcome, TransientError) and "in time" in str(outcome)


def test_unreachable_server_is_transient(configure: Any, x_api: FakeX) -> None:
    configure(API_BASE_URL=f"http://127.0.0.1:{free_port()}")
    outcome = send_one(message())
    assert isinstance(outcome, TransientError) and "connect" in str(outcome)


def test_missing_credential_fails_each_message_as_configuration(configure: Any, x_api: FakeX) -> None:
    configure(ACCESS_TOKEN_SECRET=None)
    with TwitterMessenger({}) as messenger:
        outcomes = messenger.send_batch([message("a"), message("b")])
    assert all(isinstance(o, ConfigurationError) for o in outcomes)
    assert 'DSN["TWITTER"]["ACCESS_TOKEN_SECRET"]' in str(outcomes[0])
    assert x_api.received == []


def test_environment_fallbacks(configure: Any, x_api: FakeX, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(**{name: None for name in CREDENTIALS})
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(f"DSN_TWITTER_{name}", value)
    assert isinstance(send_one(message()), SendResult)
    assert TwitterMessenger.check() == []


def test_secrets_never_reach_the_logs(configure: Any, x_api: FakeX, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    send_one(message())
    x_api.answer(401, problem(401, "Unauthorized", "Unauthorized"))
    send_one(message())
    assert caplog.records, "tweepy should have logged the requests at DEBUG"
    assert all(secret not in caplog.text for secret in SECRETS)


# -- checks, options, addresses, limits --------------------------------------------------


def test_check_names_every_missing_credential(configure: Any) -> None:
    configure(CONSUMER_KEY=None, ACCESS_TOKEN=None)
    messages = TwitterMessenger.check()
    assert [m.id for m in messages] == ["dsn_twitter.E001"] * 2
    assert 'DSN["TWITTER"]["CONSUMER_KEY"]' in messages[0].msg and "DSN_TWITTER_CONSUMER_KEY" in messages[0].msg
    assert 'DSN["TWITTER"]["ACCESS_TOKEN"]' in messages[1].msg


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"TIMEOUT": -1}, "TIMEOUT"),
        ({"API_BASE_URL": "x.com"}, "API_BASE"),
        ({"RATE_LIMIT": (0, 60)}, "RATE_LIMIT"),
        ({"RATE_LIMIT": "lots"}, "RATE_LIMIT"),
    ],
)
def test_check_rejects_malformed_settings(configure: Any, overrides: dict[str, Any], needle: str) -> None:
    configure(**overrides)
    (error,) = TwitterMessenger.check()
    assert needle in error.msg and all(secret not in error.msg for secret in SECRETS)


def test_options() -> None:
    assert TwitterMessenger.clean_options({}) == {"mode": "tweet", "include_subject": False}
    assert TwitterMessenger.clean_options({"mode": "dm"})["mode"] == "dm"
    with pytest.raises(ValidationError) as info:
        TwitterMessenger.clean_options({"mode": "thread"})
    assert "mode" in " ".join(info.value.messages)


def test_clean_address() -> None:
    assert TwitterMessenger.clean_address(" Timeline ") == "timeline"
    assert TwitterMessenger.clean_address(USER_ID) == USER_ID
    for bad in ("@jack", "jack", "0123", "-5", ""):
        with pytest.raises(ValidationError):
            TwitterMessenger.clean_address(bad)


@pytest.mark.django_db
def test_users_have_addresses_only_in_dm_mode(configure: Any, django_user_model: Any) -> None:
    ann = django_user_model.objects.create_user("ann")
    bob = django_user_model.objects.create_user("bob")
    set_address(ann, "twitter", USER_ID)
    assert TwitterMessenger({"mode": "tweet"}).addresses_for([ann, bob]) == {}
    assert TwitterMessenger({"mode": "tweet"}).address_for(ann) is None
    assert TwitterMessenger({"mode": "dm"}).addresses_for([ann, bob]) == {ann.pk: USER_ID}


def test_rate_limit(configure: Any) -> None:
    assert list(TwitterMessenger({}).rate_limits_for("timeline")) == [RateLimit(200, 900.0)]
    configure(RATE_LIMIT=(50, 86400))
    assert list(TwitterMessenger({}).rate_limits_for("timeline")) == [RateLimit(50, 86400.0)]
