"""Testing kit for DSN and its plugins: a pytest plugin (loaded automatically through the
``pytest11`` entry point) and the messenger contract every messenger must pass.

Fixtures:

``dsn_outbox``
    The ``locmem`` messenger's outbox, emptied before the test.
``dsn_plugin``
    ``dsn_plugin(name, module_or_object)`` registers a plugin for this test only.
``dsn_flush``
    ``dsn_flush()`` runs every pending fan-out and send in this process, whatever the task
    backend; returns ``{"sent": n, "failed": n, "dead": n, "lost": n}``.

The trigger index is reset after every test, so no test sees another's triggers.

``dsn_fake_provider``
    A :class:`FakeProvider`: an HTTP server on 127.0.0.1 that records requests and answers
    what the test says (statuses, ``Retry-After``, a provider that never answers).

Contracts: subclass :class:`MessengerContract` in your plugin's tests and implement its
three fixtures; its tests then check your messenger the way the core will use it. A messenger
that speaks HTTP also subclasses :class:`HttpMessengerContract`, which plays what providers do
(429 with ``Retry-After``, 5xx, refused connections, timeouts, 401, echoed secrets, one bad
address in a batch) through the fake provider; override its ``provider_reply`` to answer in
your provider's wire format. A messenger over another protocol subclasses
:class:`ProviderContract` (the same cases) and says how its own fake plays each case.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote_plus

import pytest


def _dsn_ready() -> bool:
    try:
        from django.apps import apps
    except ImportError:
        return False
    return apps.ready and apps.is_installed("dsn_core")


@pytest.fixture(autouse=True)
def _dsn_isolate() -> Iterator[None]:
    yield
    if _dsn_ready():
        from dsn_core import index

        index.reset()


@pytest.fixture
def dsn_outbox() -> list[Any]:
    from dsn_core.builtins import outbox

    outbox.clear()
    return outbox


@pytest.fixture
def dsn_plugin() -> Iterator[Callable[[str, object], None]]:
    from dsn_core import plugins

    added: list[str] = []

    def add(name: str, plugin: object) -> None:
        plugins.add_plugin(name, plugin)
        added.append(name)

    yield add
    for name in added:
        plugins.remove_plugin(name)


def flush() -> dict[str, int]:
    """Fan out every pending notification and send every due delivery, here and now.

    Each delivery is sent with its own backend's messenger options (two backends of one
    messenger stay apart). Returns ``{"sent", "failed", "dead", "lost"}`` counts; ``lost``
    counts deliveries another worker took meanwhile (always 0 in a single test process).
    """
    from dsn_core.fanout import fan_out
    from dsn_core.models import Notification
    from dsn_core.sending import drain

    for pk in Notification.objects.filter(fanned_out_at__isnull=True).values_list("pk", flat=True):
        fan_out(pk)
    return drain(None)


@pytest.fixture
def dsn_flush() -> Callable[[], dict[str, int]]:
    return flush


class MessengerContract:
    """Shared tests for messengers. Subclass it and provide three fixtures:

    ``messenger``
        A ready messenger instance pointed at your fake provider.
    ``address``
        An address the fake provider accepts.
    ``received``
        A callable returning what the fake provider received so far, as a list of
        dicts with at least a ``"text"`` key (the message body as received).
    """

    def _message(self, address: str, text: str = "Hello from the contract") -> Any:
        from dsn_core.messengers import Message

        return Message(address=address, subject="Contract", text=text, delivery_id=1)

    def test_has_key_and_label(self, messenger: Any) -> None:
        assert messenger.key and messenger.key == messenger.key.strip().lower()
        assert messenger.label

    def test_unknown_option_is_rejected(self, messenger: Any) -> None:
        from django.core.exceptions import ValidationError

        with pytest.raises(ValidationError) as info:
            type(messenger).clean_options({"no_such_option_xyz": 1})
        assert "no_such_option_xyz" in " ".join(info.value.messages)

    def test_send_batch_returns_one_outcome_per_message(self, messenger: Any, address: str, received: Any) -> None:
        from dsn_core.messengers import SendResult

        before = len(received())
        with messenger:
            outcomes = messenger.send_batch([self._message(address, "one"), self._message(address, "two")])
        assert len(outcomes) == 2
        assert all(isinstance(o, SendResult) for o in outcomes), outcomes
        texts = [r["text"] for r in received()[before:]]
        assert any("one" in t for t in texts) and any("two" in t for t in texts)

    def test_empty_batch_sends_nothing(self, messenger: Any, received: Any) -> None:
        before = len(received())
        with messenger:
            assert messenger.send_batch([]) == []
        assert len(received()) == before

    def test_rate_limits_are_well_formed(self, messenger: Any, address: str) -> None:
        from dsn_core.messengers import RateLimit

        for limit in messenger.rate_limits_for(address):
            assert isinstance(limit, RateLimit)

    def test_check_returns_a_list(self, messenger: Any) -> None:
        assert isinstance(type(messenger).check(), list)


# -- a fake HTTP provider, and the contract of messengers that speak HTTP ----------------------------


@dataclass
class ProviderRequest:
    """One HTTP request the fake provider received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as text, URL-decoded too, so an address is found however it was encoded."""
        raw = self.body.decode("utf-8", "replace")
        return f"{raw}\n{unquote_plus(raw)}\n{unquote_plus(self.path)}"

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not JSON)."""
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """The body parsed as an HTML form (``application/x-www-form-urlencoded``)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass
class Reply:
    """What the fake provider answers: a status, headers and a body (``dict``/``list`` become JSON).

    ``hang=True`` answers nothing until the provider closes (a provider that never responds: the
    messenger's own timeout must end the wait).
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


Responder = Callable[[ProviderRequest], Reply]


class FakeProvider:
    """An HTTP server on 127.0.0.1 (a free port) that records every request and answers what the
    test tells it to. Every method, any path; HTTP/1.1 with keep-alive, as SDKs expect.

    ``url``
        ``http://127.0.0.1:<port>``: point the messenger's base URL at it.
    ``requests``
        Every :class:`ProviderRequest` received, in order.
    ``respond(responder)``
        Answer each request with ``responder(request) -> Reply`` from now on (default: 200 with
        ``{"id": "fake-<n>"}``). ``reply(...)`` is the short form for one fixed answer.
    ``refused_url``
        A URL on 127.0.0.1 where nothing listens (connection refused).
    ``hang_limit``
        Seconds a ``Reply(hang=True)`` holds the connection before closing it unanswered.
    """

    def __init__(self, responder: Responder | None = None) -> None:
        self.requests: list[ProviderRequest] = []
        self.hang_limit = 15.0
        self._responder: Responder = responder or self.default_reply
        self._release = threading.Event()
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = ProviderRequest(self.command, self.path, dict(self.headers.items()), body)
                with provider._lock:
                    provider.requests.append(request)
                    responder = provider._responder
                reply = responder(request)
                if reply.hang:
                    provider._release.wait(provider.hang_limit)
                    self.close_connection = True
                    return
                payload = reply.body
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload)
                data = payload.encode() if isinstance(payload, str) else (payload or b"")
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="dsn-fake-provider"
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def default_reply(self, request: ProviderRequest) -> Reply:
        return Reply(200, {"id": f"fake-{len(self.requests)}"})

    def respond(self, responder: Responder) -> None:
        """Answer every later request with ``responder(request)``."""
        with self._lock:
            self._responder = responder

    def reply(
        self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None, hang: bool = False
    ) -> None:
        """Answer every later request with this one reply."""
        fixed = Reply(status, body, dict(headers or {}), hang)
        self.respond(lambda request: fixed)

    @property
    def refused_url(self) -> str:
        with socket.socket() as probe:  # bind, note the port, close: nothing listens there now
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def dsn_fake_provider() -> Iterator[FakeProvider]:
    """A :class:`FakeProvider` running for this test."""
    provider = FakeProvider()
    yield provider
    provider.close()


def http_date(seconds_from_now: float) -> str:
    """An HTTP-date (RFC 9110) ``seconds_from_now`` ahead, as a ``Retry-After`` header may carry."""
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


class ProviderContract:
    """What a provider will do to a messenger, whatever its protocol: the cases, written once.

    A subclass says how its fake provider plays each case (:meth:`answer`), where the fake
    lives (the ``contract_provider`` fixture, with ``url`` and ``refused_url``) and what the fake
    received (:meth:`received_text`). :class:`HttpMessengerContract` does this for HTTP providers
    with :class:`FakeProvider`; a messenger over another protocol (SMTP, say) subclasses this
    class directly with a fake server of its own. Fixtures a subclass provides:

    ``contract_provider``
        The running fake: ``.url`` (handed to ``messenger_at``) and ``.refused_url`` (a URL of
        the same kind where nothing listens).
    ``messenger_at``
        ``messenger_at(url) -> Messenger``: a messenger whose provider lives at ``url``, with a
        network timeout shorter than :attr:`hang_for` (1-2 s is plenty).
    ``address``
        An address your messenger sends to.
    ``provider_secrets``
        The secrets your messenger sends to the provider (API key, token, password): none may
        appear in any error text.

    The cases (:data:`CASES`): ``ok``; ``rate_limited`` (with a ``retry_after`` in seconds, or
    as an HTTP-date); ``server_error`` (a temporary failure: HTTP 5xx, SMTP 4xx);
    ``unauthorized`` (the credentials are wrong); ``bad_address`` (the provider refuses this
    address for good: HTTP 400/404, SMTP 550); ``hang`` (the provider never answers); plus a
    refused connection. Set :attr:`cases` to the ones your provider has: the others skip,
    saying why. Each case expects an outcome, never an exception escaping ``send_batch``.
    """

    #: Every case the contract knows.
    CASES: ClassVar[frozenset[str]] = frozenset(
        {"ok", "rate_limited", "server_error", "unauthorized", "bad_address", "hang", "refused"}
    )
    #: The cases this provider has (drop those without a meaning for it).
    cases: ClassVar[frozenset[str]] = CASES
    #: Seconds the fake waits before giving up on a hanging reply; the messenger must time out sooner.
    hang_for: float = 15.0
    #: An address the fake refuses as unknown (matched in what the messenger sends).
    bad_address: str = "nobody-at-all"
    #: Whether the provider can say ``Retry-After`` as an HTTP-date (set False if it cannot).
    retry_after_http_date: bool = True

    # -- what a subclass implements ------------------------------------------------------------

    def answer(self, provider: Any, case: str, *, retry_after: str = "", only_for: str | None = None) -> None:
        """Make ``provider`` answer every later request as ``case`` says.

        ``retry_after`` is the ``Retry-After`` value for ``rate_limited`` (delta-seconds or an
        HTTP-date); with ``only_for``, only requests for that address get ``case`` and the
        others are answered ``ok``."""
        raise NotImplementedError(f"{type(self).__name__} must say how its fake answers (answer())")

    def received_text(self, provider: Any) -> str:
        """Everything ``provider`` received so far, as text (to find the messages sent)."""
        raise NotImplementedError(f"{type(self).__name__} must say what its fake received (received_text())")

    # -- helpers -------------------------------------------------------------------------------

    def _needs(self, *cases: str) -> None:
        missing = [case for case in cases if case not in self.cases]
        if missing:
            pytest.skip(f"{type(self).__name__} has no {', '.join(missing)} case (not in its `cases`)")

    def _contract_message(self, address: str, text: str = "Hello from the contract", delivery_id: int = 1) -> Any:
        from dsn_core.messengers import Message

        return Message(address=address, subject="Contract", text=text, delivery_id=delivery_id)

    def _send(self, messenger: Any, messages: list[Any]) -> list[Any]:
        try:
            with messenger:
                outcomes = messenger.send_batch(messages)
        except Exception as exc:  # the core would fail the whole batch as transient
            pytest.fail(f"{type(exc).__name__} escaped send_batch (return a DeliveryError outcome instead): {exc}")
        assert len(outcomes) == len(messages), "send_batch must return one outcome per message"
        return outcomes

    def _one(self, provider: Any, messenger_at: Callable[[str], Any], address: str, case: str, **kwargs: Any) -> Any:
        self.answer(provider, case, **kwargs)
        [outcome] = self._send(messenger_at(provider.url), [self._contract_message(address)])
        return outcome

    def _assert_no_secret(self, outcome: Any, secrets: Any) -> None:
        text = f"{outcome} {getattr(outcome, 'message', '')} {outcome!r}"
        for secret in secrets:
            assert str(secret) not in text, f"a secret reached the error text: {text!r}"

    # -- the cases -----------------------------------------------------------------------------

    def test_contract_ok_is_a_send_result(self, contract_provider: Any, messenger_at: Any, address: str) -> None:
        from dsn_core.messengers import SendResult

        self._needs("ok")
        outcome = self._one(contract_provider, messenger_at, address, "ok")
        assert isinstance(outcome, SendResult), outcome
        assert "Hello from the contract" in self.received_text(contract_provider), "the fake provider received nothing"

    def test_contract_429_retry_after_seconds(
        self, contract_provider: Any, messenger_at: Any, address: str, provider_secrets: Any
    ) -> None:
        from dsn_core.errors import TransientError

        self._needs("rate_limited")
        outcome = self._one(contract_provider, messenger_at, address, "rate_limited", retry_after="7")
        assert isinstance(outcome, TransientError), f"a 429 must be a TransientError, got {outcome!r}"
        assert outcome.retry_after is not None and 6 <= outcome.retry_after <= 8, (
            f"Retry-After: 7 must become retry_after=7, got {outcome.retry_after!r}"
        )
        self._assert_no_secret(outcome, provider_secrets)

    def test_contract_429_retry_after_http_date(self, contract_provider: Any, messenger_at: Any, address: str) -> None:
        from dsn_core.errors import TransientError

        self._needs("rate_limited")
        if not self.retry_after_http_date:
            pytest.skip("this provider never sends Retry-After as an HTTP-date")
        outcome = self._one(contract_provider, messenger_at, address, "rate_limited", retry_after=http_date(120))
        assert isinstance(outcome, TransientError), f"a 429 must be a TransientError, got {outcome!r}"
        assert outcome.retry_after is not None and 100 <= outcome.retry_after <= 121, (
            f"Retry-After as an HTTP-date 120 s ahead must become retry_after≈120, got {outcome.retry_after!r}"
        )

    def test_contract_5xx_is_transient(
        self, contract_provider: Any, messenger_at: Any, address: str, provider_secrets: Any
    ) -> None:
        from dsn_core.errors import TransientError

        self._needs("server_error")
        outcome = self._one(contract_provider, messenger_at, address, "server_error")
        assert isinstance(outcome, TransientError), f"a temporary failure must be a TransientError, got {outcome!r}"
        self._assert_no_secret(outcome, provider_secrets)

    def test_contract_refused_address_is_permanent(
        self, contract_provider: Any, messenger_at: Any, address: str, provider_secrets: Any
    ) -> None:
        from dsn_core.errors import PermanentError

        self._needs("bad_address")
        outcome = self._one(contract_provider, messenger_at, address, "bad_address")
        assert isinstance(outcome, PermanentError), f"an address refused for good must be permanent, got {outcome!r}"
        self._assert_no_secret(outcome, provider_secrets)

    def test_contract_connection_refused_is_transient(
        self, contract_provider: Any, messenger_at: Any, address: str
    ) -> None:
        from dsn_core.errors import TransientError

        self._needs("refused")
        [outcome] = self._send(messenger_at(contract_provider.refused_url), [self._contract_message(address)])
        assert isinstance(outcome, TransientError), f"connection refused must be a TransientError, got {outcome!r}"

    def test_contract_timeout_is_transient(self, contract_provider: Any, messenger_at: Any, address: str) -> None:
        from dsn_core.errors import TransientError

        self._needs("hang")
        self.answer(contract_provider, "hang")
        started = time.monotonic()
        [outcome] = self._send(messenger_at(contract_provider.url), [self._contract_message(address)])
        waited = time.monotonic() - started
        assert waited < self.hang_for - 1, (
            f"send waited {waited:.1f} s for a provider that never answers: give every call a timeout"
        )
        assert isinstance(outcome, TransientError), f"a timeout must be a TransientError, got {outcome!r}"

    def test_contract_401_is_a_configuration_error(
        self, contract_provider: Any, messenger_at: Any, address: str, provider_secrets: Any
    ) -> None:
        from dsn_core.errors import ConfigurationError

        self._needs("unauthorized")
        outcome = self._one(contract_provider, messenger_at, address, "unauthorized")
        assert isinstance(outcome, ConfigurationError), (
            f"rejected credentials must be a ConfigurationError, got {outcome!r}"
        )
        self._assert_no_secret(outcome, provider_secrets)

    def test_contract_no_secret_in_any_error_text(
        self, contract_provider: Any, messenger_at: Any, address: str, provider_secrets: Any
    ) -> None:
        secrets = [s for s in provider_secrets if s]
        assert secrets, "provider_secrets must name at least one secret the messenger sends"
        for case in ("rate_limited", "server_error", "unauthorized", "bad_address"):
            if case not in self.cases:
                continue
            outcome = self._one(
                contract_provider,
                messenger_at,
                address,
                case,
                **({"retry_after": "5"} if case == "rate_limited" else {}),
            )
            self._assert_no_secret(outcome, secrets)

    def test_contract_batch_with_one_bad_address(self, contract_provider: Any, messenger_at: Any, address: str) -> None:
        from dsn_core.errors import PermanentError
        from dsn_core.messengers import SendResult

        self._needs("ok", "bad_address")
        bad = self.bad_address
        self.answer(contract_provider, "bad_address", only_for=bad)
        messages = [
            self._contract_message(address, "first", 1),
            self._contract_message(bad, "second", 2),
            self._contract_message(address, "third", 3),
        ]
        outcomes = self._send(messenger_at(contract_provider.url), messages)
        assert isinstance(outcomes[0], SendResult) and isinstance(outcomes[2], SendResult), outcomes
        assert isinstance(outcomes[1], PermanentError), f"an unknown address must be permanent, got {outcomes[1]!r}"
        texts = self.received_text(contract_provider)
        assert "first" in texts and "third" in texts, "the messages after the bad one must still be sent"


class HttpMessengerContract(ProviderContract):
    """:class:`ProviderContract` for messengers that speak HTTP, played by :class:`FakeProvider`.

    Subclass it in your plugin's tests and provide the ``messenger_at``, ``address`` and
    ``provider_secrets`` fixtures (``contract_provider`` is the ``dsn_fake_provider``).
    Override :meth:`provider_reply` when your provider's wire format differs from the generic
    one (JSON bodies, a ``Retry-After`` header): return the :class:`Reply` your provider gives
    for each case, e.g. a Telegram-shaped ``{"ok": false, "parameters": {"retry_after": 7}}``.
    """

    @pytest.fixture
    def contract_provider(self, dsn_fake_provider: FakeProvider) -> FakeProvider:
        return dsn_fake_provider

    def provider_reply(self, case: str, request: ProviderRequest, *, retry_after: str = "") -> Reply:
        """The provider's answer for ``case``: ``ok``, ``rate_limited`` (with ``retry_after``, the
        header value), ``server_error``, ``unauthorized``, ``bad_address``. Error bodies echo what
        the provider received (headers and body), as some providers do, to catch leaked secrets."""
        echo = {"you_sent": {"headers": request.headers, "body": request.body.decode("utf-8", "replace")}}
        if case == "ok":
            return Reply(200, {"id": f"fake-{abs(hash(request.body)) % 10**8}"})
        if case == "rate_limited":
            return Reply(429, {"error": "slow down", **echo}, {"Retry-After": retry_after})
        if case == "server_error":
            return Reply(503, {"error": "unavailable", **echo})
        if case == "unauthorized":
            return Reply(401, {"error": "bad credentials", **echo})
        if case == "bad_address":
            return Reply(404, {"error": "no such recipient", **echo})
        raise ValueError(f"unknown case {case!r}")

    def answer(self, provider: FakeProvider, case: str, *, retry_after: str = "", only_for: str | None = None) -> None:
        if case == "hang":
            provider.hang_limit = self.hang_for
            provider.reply(hang=True)
            return

        def respond(request: ProviderRequest) -> Reply:
            applies = only_for is None or only_for in request.text
            return self.provider_reply(case if applies else "ok", request, retry_after=retry_after)

        provider.respond(respond)

    def received_text(self, provider: FakeProvider) -> str:
        return "\n".join(request.text for request in provider.requests)
