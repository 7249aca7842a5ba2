"""Sends are bounded, a missing plugin parks deliveries, and ``flush()`` keeps backends apart.

In one process, with the ``http`` messenger talking real HTTP to the fake provider over
loopback. The hung provider really hangs (its handler blocks until the test ends): only the
core's deadline gets the worker out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from dsn_core import hookimpl
from dsn_core.messengers import Messenger, SendResult
from dsn_core.models import Backend, Delivery, MessageTemplate, Notification
from dsn_core.plugins import add_plugin, remove_plugin
from dsn_core.sending import drain
from tests.testapp.models import Article

from .harness import Provider
from .httpapp.messenger import make_messenger
from .httpapp.plugin import HttpPlugin

PLUGIN = "dsn-delivery-http-bounded"
S = Delivery.Status


@pytest.fixture
def hang() -> Iterator[threading.Event]:
    """Set at teardown: releases the provider's hung handler threads."""
    release = threading.Event()
    yield release
    release.set()


def _users(django_user_model: Any, n: int, prefix: str = "u") -> list[Any]:
    return [django_user_model.objects.create_user(f"{prefix}{i}") for i in range(n)]


def _fan_out() -> None:
    from dsn_core.fanout import fan_out

    for pk in Notification.objects.filter(fanned_out_at__isnull=True).values_list("pk", flat=True):
        fan_out(pk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("dedup", [False, True], ids=["one-per-call", "whole-batch"])
def test_a_hung_provider_costs_its_deadline_and_the_rest_of_the_batch_is_sent(
    provider: Provider,
    hang: threading.Event,
    dsn_plugin: Any,
    make_flow: Any,
    settings: Any,
    django_user_model: Any,
    dedup: bool,
) -> None:
    settings.DSN = {**settings.DSN, "SEND_TIMEOUT": 0.5, "TASK_BACKEND": "default"}
    users = _users(django_user_model, 10)
    # A plugin "without its own timeout": an hour, for a provider that never answers.
    dsn_plugin(PLUGIN, HttpPlugin(make_messenger(batch=10, dedup=dedup)))
    sub = make_flow(Article, messenger="http", users=users, options={"url": provider.url, "timeout": 3600})
    Article.objects.create(title="fires")  # fan-out runs on commit; the immediate backend sends at once ...
    Delivery.objects.update(status=S.PENDING, next_attempt_at=None, attempts=0)  # ... so start over, hung:
    provider.hits.clear()
    provider.answered.clear()
    hung = Delivery.objects.order_by("pk").values_list("pk", flat=True)[3]

    def policy(delivery_id: int, attempt: int) -> tuple[int, dict[str, str]]:
        if delivery_id == hung and attempt == 1:
            hang.wait(60)  # the provider never answers this one (until the test ends)
        return 200, {}

    provider.policy = policy
    started = time.monotonic()
    # One claim (the backend's batch is all 10 rows): a failed row whose fully jittered retry
    # came due within a few milliseconds would otherwise be claimed and sent again by this
    # same drain (seen once in CI: {'sent': 1, 'failed': 10}).
    counts = drain(sub.backends.get().pk, max_batches=1)
    took = time.monotonic() - started
    rows = dict(Delivery.objects.values_list("pk", "status"))
    error = Delivery.objects.get(pk=hung).last_error
    print(
        f"hung provider ({'whole batch' if dedup else 'one message per call'}): {counts} in {took:.2f}s; "
        f"provider answered {len(provider.hits)} requests"
    )
    assert took < 5, "the worker waited for the hung provider instead of its 0.5 s deadline"
    assert "no answer within 0.5 s" in error
    if dedup:
        # One call for the batch: it hung, so the whole batch is retried later (the provider
        # deduplicates, so what it had already accepted is not delivered twice).
        assert counts["failed"] == 10 and set(rows.values()) == {S.FAILED}
    else:
        # One call per message: only the hung one failed; the other nine were sent.
        assert counts == {"sent": 9, "failed": 1, "dead": 0, "lost": 0}
        assert rows[hung] == S.FAILED and sum(1 for s in rows.values() if s == S.SENT) == 9
        assert len(provider.hits) == 9 and provider.asking[hung] == 1  # nine answered, one still hanging
    # The failed rows are released, not left "sending" under a renewed lease.
    assert not Delivery.objects.filter(status=S.SENDING).exists()
    Delivery.objects.filter(status=S.FAILED).update(next_attempt_at=None)  # the retry, due now:
    assert drain(sub.backends.get().pk)["sent"] == counts["failed"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {S.SENT}


class HangingOpen(Messenger):
    key = "hangs-open"
    label = "Hangs in open() (tests)"
    release = threading.Event()

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return {u.pk: f"h:{u.pk}" for u in users}

    def open(self) -> None:
        self.release.wait(60)

    def send(self, message: Any) -> SendResult:
        return SendResult("never")


class NoToken(Messenger):
    key = "no-token"
    label = "Missing token (tests)"

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return {u.pk: f"t:{u.pk}" for u in users}

    def open(self) -> None:
        raise ImproperlyConfigured('DSN: set settings.DSN["NOTOKEN"]["TOKEN"].')

    def send(self, message: Any) -> SendResult:
        return SendResult("never")


class Plugin:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        register(HangingOpen)
        register(NoToken)


@pytest.mark.django_db
def test_a_messenger_hanging_in_open_is_bounded_too(
    make_flow: Any, dsn_plugin: Any, settings: Any, django_user_model: Any, dsn_flush: Any
) -> None:
    settings.DSN = {**settings.DSN, "SEND_TIMEOUT": 0.3}
    dsn_plugin("bounded-tests", Plugin())
    make_flow(Article, messenger="hangs-open", users=_users(django_user_model, 3))
    try:
        Article.objects.create(title="x")
        started = time.monotonic()
        dsn_flush()  # fan-out, whose send runs at once (immediate task backend)
        assert time.monotonic() - started < 3
        assert list(Delivery.objects.values_list("status", flat=True)) == [S.FAILED] * 3
    finally:
        HangingOpen.release.set()
    errors = set(Delivery.objects.values_list("last_error", flat=True))
    assert errors == {"hangs-open: opening the connection took longer than 0.3 s"}


@pytest.mark.django_db
def test_a_settings_error_in_open_is_a_configuration_error_for_each_message(
    make_flow: Any, dsn_plugin: Any, django_user_model: Any, dsn_flush: Any, caplog: Any
) -> None:
    dsn_plugin("bounded-tests", Plugin())
    make_flow(Article, messenger="no-token", users=_users(django_user_model, 2))
    Article.objects.create(title="x")
    dsn_flush()
    assert list(Delivery.objects.values_list("status", flat=True)) == [S.FAILED] * 2
    errors = set(Delivery.objects.values_list("last_error", flat=True))
    assert errors == {'configuration error: no-token is not configured: DSN: set settings.DSN["NOTOKEN"]["TOKEN"].'}
    assert "temporary" not in caplog.text.lower()
    assert any(r.levelname == "ERROR" and "configuration error" in r.getMessage() for r in caplog.records)


def test_flush_sends_each_backend_with_its_own_options(
    make_flow: Any, dsn_plugin: Any, dsn_flush: Any, django_user_model: Any
) -> None:
    """Two backends of one messenger, different URLs, one event: each message to its own URL."""
    dsn_plugin(PLUGIN, HttpPlugin(make_messenger(dedup=False)))
    users = _users(django_user_model, 3)
    with Provider() as a, Provider() as b:
        sub = make_flow(Article, messenger="http", users=users, options={"url": a.url})
        other = Backend.objects.create(
            name="B",
            messenger="http",
            options={"url": b.url},
            template=MessageTemplate.objects.create(name="b", text="B {{ address }}"),
        )
        sub.backends.add(other)
        Article.objects.create(title="two backends")
        dsn_flush()  # fans out (its send tasks run at once on the immediate backend) ...
        assert len(a.hits) == len(b.hits) == 3
        # ... and again with every delivery left to flush's own drain of all backends at once:
        Delivery.objects.update(status=S.PENDING, attempts=0)
        a.hits.clear()
        b.hits.clear()
        assert dsn_flush() == {"sent": 6, "failed": 0, "dead": 0, "lost": 0}
        on_a = sorted(h.delivery_id for h in a.hits)
        on_b = sorted(h.delivery_id for h in b.hits)
    assert on_a == sorted(Delivery.objects.filter(backend=sub.backends.get(name="b-http")).values_list("pk", flat=True))
    assert on_b == sorted(Delivery.objects.filter(backend=other).values_list("pk", flat=True))
    assert len(on_a) == len(on_b) == 3


@pytest.mark.django_db(transaction=True)
def test_a_missing_plugin_parks_deliveries_and_the_sweeper_sends_them_when_it_is_back(
    provider: Provider, make_flow: Any, settings: Any, django_user_model: Any
) -> None:
    from dsn_core.sweep import sweep

    # Attempts and time both as short as can be: a missing plugin must still not kill anything.
    settings.DSN = {**settings.DSN, "MAX_ATTEMPTS": 1, "RETRY_FOR": 0}
    make_flow(Article, messenger="http", users=_users(django_user_model, 30), options={"url": provider.url})
    Article.objects.create(title="while uninstalled")  # fan-out and send on commit (immediate backend)
    for _ in range(3):
        drain(None)
        assert sweep(grace=0)["senders"] == 0, "no sender for a messenger that is still missing"
    rows = list(Delivery.objects.values_list("status", "attempts", "next_attempt_at", "last_error"))
    assert len(rows) == 30
    assert {(s, a, n) for s, a, n, _ in rows} == {(S.FAILED, 0, None)}
    assert {e for *_, e in rows} == {
        "messenger 'http' not installed (its plugin is missing, failed to load, or is in DSN['BLOCK_PLUGINS']); "
        "waiting: sent once the plugin is back"
    }
    assert provider.hits == []
    add_plugin(PLUGIN, HttpPlugin(make_messenger()))
    try:
        report = sweep(grace=0)  # no manual step: the sweeper sees the messenger is back
    finally:
        remove_plugin(PLUGIN)
    assert report["senders"] == 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {S.SENT}
    assert len(provider.delivered()) == 30


def test_a_test_send_calls_a_missing_token_a_configuration_error(dsn_plugin: Any) -> None:
    from dsn_core.forms import describe_outcome, send_by_hand
    from dsn_core.messengers import Message

    dsn_plugin("bounded-tests", Plugin())
    outcome = send_by_hand(NoToken({}), Message(address="t:1", subject="", text="hi"))
    assert describe_outcome(outcome) == (
        False,
        'configuration error: no-token is not configured: DSN: set settings.DSN["NOTOKEN"]["TOKEN"].',
    )
