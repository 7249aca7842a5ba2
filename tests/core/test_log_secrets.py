"""No secret in any log, at any level: every channel sends at DEBUG against fakes that echo credentials.

The root logger is set to DEBUG (every library logger let through to it), each channel sends one
message its fake accepts and one its fake refuses with an answer that echoes the credentials it
received (the token in the URL, the Authorization header, the SMTP password), through DSN's whole
pipeline. Then every captured record — message, arguments, traceback, extra attributes — is
searched for each secret, raw, URL-encoded and (for HTTP basic auth) base64-encoded.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from dsn_core import ratelimit
from dsn_core.models import Delivery
from tests.dsn_email.smtp_server import FakeSMTP
from tests.dsn_sms.conftest import ACCOUNT_SID, AUTH_TOKEN, MESSAGES_PATH, FakeTwilio, sms_section
from tests.dsn_telegram.conftest import TOKEN, FakeBotAPI, api_error
from tests.dsn_twitter.conftest import CREDENTIALS, DMS, TWEETS, FakeX
from tests.fakes import FakeServer, Request, Response
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

SMTP_USER, SMTP_PASSWORD = "dsn-mailer", "smtp-pw-6f1d2c9a"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        """Each record as a handler could write it: formatted, with its traceback, and raw."""
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return [f"{formatter.format(r)}\n{r.msg!r} {r.args!r} {vars(r)!r}" for r in self.records]


@pytest.fixture
def debug_logs() -> Iterator[Capture]:
    """The root logger at DEBUG, every existing logger enabled and let through to it."""
    root = logging.getLogger()
    handler = Capture()
    loggers = [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    saved = [(lg, lg.level, lg.disabled, lg.propagate) for lg in loggers]
    root_level = root.level
    for lg in loggers:
        lg.setLevel(logging.NOTSET)
        lg.disabled, lg.propagate = False, True
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(root_level)
        for lg, level, disabled, propagate in saved:
            lg.setLevel(level)
            lg.disabled, lg.propagate = disabled, propagate


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_000_000.0)
    monkeypatch.setattr(ratelimit, "sleep", lambda seconds: None)


def forms(*secrets: str) -> list[str]:
    """Each secret as it may appear: raw and URL-encoded."""
    return sorted({form for s in secrets for form in (s, quote(s, safe=""))})


def echo_authorization(status: int, body: Callable[[Request], Any]) -> Callable[[Request], Response]:
    return lambda req: (status, {}, body(req))


def basic_auth_text(req: Request) -> str:
    """What a careless provider puts in an error: the credentials it decoded."""
    header = req.headers.get("Authorization", "")
    decoded = base64.b64decode(header.split()[-1]).decode() if header.startswith("Basic ") else ""
    return f"credentials {decoded} ({header}) are not valid"


def telegram(settings: Any, server: FakeServer) -> tuple[str, dict[str, Any], list[str], list[str], Callable[[], None]]:
    bot = FakeBotAPI(server)
    settings.DSN = {**settings.DSN, "TELEGRAM": {"BOT_TOKEN": TOKEN, "API_BASE_URL": bot.url, "TIMEOUT": 2}}

    def refuse() -> None:
        bot.on_send(lambda req: api_error(400, f"Bad Request: chat not found (POST {req.path} for bot {TOKEN})"))

    return "telegram", {}, ["4242"], forms(TOKEN), refuse


def sms(settings: Any, server: FakeServer) -> tuple[str, dict[str, Any], list[str], list[str], Callable[[], None]]:
    twilio = FakeTwilio(server)
    settings.DSN = {**settings.DSN, "SMS": sms_section(twilio)}

    def refuse() -> None:
        server.route(
            "POST",
            MESSAGES_PATH,
            echo_authorization(401, lambda req: {"code": 20003, "message": basic_auth_text(req), "status": 401}),
        )

    basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    return "sms", {}, ["+14155550123"], [*forms(AUTH_TOKEN, ACCOUNT_SID), basic], refuse


def twitter(settings: Any, server: FakeServer) -> tuple[str, dict[str, Any], list[str], list[str], Callable[[], None]]:
    x = FakeX(server)
    settings.DSN = {**settings.DSN, "TWITTER": {**CREDENTIALS, "API_BASE_URL": x.url, "TIMEOUT": 2}}

    def refuse() -> None:
        echo = echo_authorization(
            401,
            lambda req: {
                "title": "Unauthorized",
                "status": 401,
                "detail": f"bad OAuth header {req.headers.get('Authorization')} for {CREDENTIALS['CONSUMER_SECRET']}",
            },
        )
        server.route("POST", TWEETS, echo)
        server.route("POST", DMS, echo)

    return "twitter", {"mode": "tweet"}, ["timeline"], forms(*CREDENTIALS.values()), refuse


class EchoingSMTP(FakeSMTP):
    """An SMTP server that refuses AUTH with a reply quoting the password it was sent."""

    refuse = False

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if self.refuse and isinstance(data, LoginPassword):
            return AuthResult(
                success=False,
                handled=False,
                message=f"535 5.7.8 bad credentials {data.login.decode()}:{data.password.decode()}",
            )
        return super()._authenticate(server, session, envelope, mechanism, data)


def email(settings: Any, smtp: EchoingSMTP) -> tuple[str, dict[str, Any], list[str], list[str], Callable[[], None]]:
    options = {"host": "127.0.0.1", "port": smtp.port, "username": SMTP_USER, "password": SMTP_PASSWORD}
    settings.DSN = {
        **settings.DSN,
        "EMAIL": {
            "FROM": "DSN <noreply@dsn.test>",
            "TIMEOUT": 5,
            "CONNECTIONS": {"test": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}},
        },
    }

    def refuse() -> None:
        smtp.refuse = True

    return "email", {"connection": "test"}, ["ops@example.com"], forms(SMTP_PASSWORD), refuse


@pytest.mark.parametrize("channel", ["telegram", "sms", "twitter", "email"])
def test_no_secret_in_any_log_record_at_debug(
    channel: str,
    settings: Any,
    make_flow: Any,
    dsn_flush: Any,
    debug_logs: Capture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with FakeServer() as server, EchoingSMTP(credentials=(SMTP_USER, SMTP_PASSWORD)) as smtp:
        if channel == "email":
            key, options, fixed, secrets, refuse = email(settings, smtp)
        else:
            key, options, fixed, secrets, refuse = {"telegram": telegram, "sms": sms, "twitter": twitter}[channel](
                settings, server
            )
        make_flow(Article, messenger=key, options=options, fixed={key: fixed}, text="{{ instance.title }}")
        with django_capture_on_commit_callbacks(execute=True):
            Article.objects.create(title="accepted")
        dsn_flush()
        refuse()
        with django_capture_on_commit_callbacks(execute=True):
            Article.objects.create(title="refused")
        dsn_flush()

    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses[-1] == "sent" and statuses[0] != "sent", statuses  # one sent, one refused
    texts = debug_logs.texts()
    assert len(texts) > 5 and any(r.levelno == logging.DEBUG for r in debug_logs.records)
    leaks = [(secret, text) for text in texts for secret in secrets if secret in text]
    assert not leaks, leaks[0]
    # The refusal reached the log, masked: the echo was there to leak.
    assert any("***" in text for text in texts), "no record carried the echoed credentials"


def test_ptb_logs_its_bot_url_at_debug_without_the_token(settings: Any, debug_logs: Capture) -> None:
    """python-telegram-bot names its logger when a bot is built: after DSN's filters used to be installed."""
    import telegram

    settings.DSN = {**settings.DSN, "TELEGRAM": {"BOT_TOKEN": TOKEN}}
    telegram.Bot(TOKEN, base_url="http://127.0.0.1:9/bot")
    urls = [r.getMessage() for r in debug_logs.records if "Bot API URL" in r.getMessage()]
    assert urls and all(TOKEN not in url and "***" in url for url in urls), urls


def test_a_traceback_holding_a_secret_is_masked(settings: Any, debug_logs: Capture) -> None:
    settings.DSN = {**settings.DSN, "PIGEON": {"API_KEY": "pigeon-key-77aa"}}
    try:
        raise RuntimeError("refused key pigeon-key-77aa")
    except RuntimeError:
        logging.getLogger("somelib").exception("call failed with %s", "pigeon-key-77aa")
    (text,) = debug_logs.texts()
    assert "pigeon-key-77aa" not in text
    assert "call failed with ***" in text and "RuntimeError: refused key ***" in text
