"""Guarantees that need no worker process: rollback, an uninstalled plugin, unsubscribe.

The ``http`` messenger still talks real HTTP to the fake provider over loopback.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import transaction

from dsn_core.models import Delivery, Notification, OptOut
from dsn_core.plugins import add_plugin, remove_plugin
from dsn_core.tokens import make_token
from dsn_core.unsubscribe import MAX_AGE, PURPOSE, unsubscribe_token
from tests.testapp.models import Article

from .harness import Provider
from .httpapp.messenger import make_messenger
from .httpapp.plugin import HttpPlugin

PLUGIN = "dsn-delivery-http-inprocess"


@pytest.fixture
def http_plugin(dsn_plugin: Any) -> None:
    dsn_plugin(PLUGIN, HttpPlugin(make_messenger()))


def addresses(provider: Provider) -> list[str]:
    return sorted(h.address for h in provider.hits if h.status < 300)


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_sends_nothing(
    provider: Provider, http_plugin: None, make_flow: Any, django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user("ann")
    make_flow(Article, messenger="http", users=[user], options={"url": provider.url})
    with pytest.raises(RuntimeError), transaction.atomic():
        Article.objects.create(title="rolled back")  # the signal fires here ...
        raise RuntimeError("... and the transaction rolls back")
    assert Notification.objects.count() == 0
    assert provider.hits == []
    # Control: the same save, committed, is delivered (immediate task backend, on commit).
    with transaction.atomic():
        Article.objects.create(title="committed")
    assert addresses(provider) == ["addr-ann"]


def test_uninstalled_plugin_fails_then_retry_now_delivers(
    provider: Provider, make_flow: Any, dsn_flush: Any, django_user_model: Any
) -> None:
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(3)]
    sub = make_flow(Article, messenger="http", users=users, options={"url": provider.url})
    Article.objects.create(title="while uninstalled")
    dsn_flush()  # fan-out and send (immediate task backend) with no "http" messenger registered
    rows = list(Delivery.objects.all())
    assert len(rows) == 3
    assert {r.status for r in rows} == {Delivery.Status.FAILED}
    assert all("not installed" in r.last_error for r in rows)
    assert provider.hits == []
    add_plugin(PLUGIN, HttpPlugin(make_messenger()))
    try:
        # "Retry now": back to pending, due now, and a sender enqueued (immediate backend).
        from dsn_core.tasks import enqueue_send

        Delivery.objects.update(status=Delivery.Status.PENDING, next_attempt_at=None)
        enqueue_send(sub.backends.get().pk, None, 3)
    finally:
        remove_plugin(PLUGIN)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    # Fan-out could not ask the missing messenger for addresses; they are resolved at send time.
    assert addresses(provider) == ["addr-u0", "addr-u1", "addr-u2"]


def test_plugin_removed_after_fan_out_then_sweeper_delivers(
    provider: Provider, make_flow: Any, dsn_flush: Any, django_user_model: Any
) -> None:
    from dsn_core.fanout import fan_out
    from dsn_core.sending import drain
    from dsn_core.sweep import sweep

    users = [django_user_model.objects.create_user(f"v{i}") for i in range(2)]
    make_flow(Article, messenger="http", users=users, options={"url": provider.url})
    Article.objects.create(title="a")
    provider.policy = lambda delivery_id, attempt: (503, {}) if attempt == 1 else (200, {})
    add_plugin(PLUGIN, HttpPlugin(make_messenger()))
    fan_out(Notification.objects.get().pk)  # sends at once (immediate backend): the provider says 503
    remove_plugin(PLUGIN)  # ... and the plugin is uninstalled while the retries are pending
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.FAILED}
    Delivery.objects.update(next_attempt_at=None)
    assert drain(None) == {"sent": 0, "failed": 2, "dead": 0, "lost": 0}
    assert all("not installed" in e for e in Delivery.objects.values_list("last_error", flat=True))
    add_plugin(PLUGIN, HttpPlugin(make_messenger()))
    try:
        from django.utils import timezone

        Delivery.objects.update(next_attempt_at=timezone.now())  # due now (instead of waiting for the backoff)
        report = sweep(grace=0)  # enqueues a sender; the immediate backend runs it
    finally:
        remove_plugin(PLUGIN)
    assert report["senders"] == 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    assert addresses(provider) == ["addr-v0", "addr-v1"]


@pytest.mark.django_db
def test_unsubscribe_tokens_and_opt_out(
    client: Any, provider: Provider, http_plugin: None, make_flow: Any, dsn_flush: Any, django_user_model: Any
) -> None:
    from dsn_core.models import Backend, MessageTemplate, Subscription

    ann, bob = (django_user_model.objects.create_user(n) for n in ("ann", "bob"))
    sub = make_flow(Article, messenger="http", users=[ann, bob], options={"url": provider.url})
    critical = Subscription.objects.create(trigger=sub.trigger, critical=True, name="critical")
    critical.backends.add(
        Backend.objects.create(
            name="critical",
            messenger="http",
            options={"url": provider.url},
            template=MessageTemplate.objects.create(name="c", text="!"),
        )
    )
    critical.receiver_users.add(ann)
    token = unsubscribe_token(ann.pk, "http", None)  # every non-critical "http" message to ann
    url = f"/dsn/unsubscribe/{token}/"

    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    expired = make_token(PURPOSE, f"{ann.pk}.http.", now=time.time() - MAX_AGE - 60)
    for bad, reason in ((forged, "not valid"), (expired, "expired")):
        response = client.post(f"/dsn/unsubscribe/{bad}/")
        assert response.status_code == 400 and reason in response.content.decode()
    assert client.get(url).status_code == 200, "GET only shows a confirmation page"
    assert not OptOut.objects.exists()

    response = client.post(url)
    assert response.status_code == 200
    assert OptOut.objects.filter(user=ann, messenger="http", subscription=None).count() == 1
    replay = client.post(url)
    assert replay.status_code == 400 and "already used" in replay.content.decode()
    assert OptOut.objects.count() == 1, "a replayed token changes nothing"

    Article.objects.create(title="after opt-out")
    dsn_flush()
    skipped = Delivery.objects.get(subscription=sub, recipient=ann)
    assert (skipped.status, skipped.last_error) == (Delivery.Status.SKIPPED, "opted out")
    assert Delivery.objects.get(subscription=sub, recipient=bob).status == Delivery.Status.SENT
    assert Delivery.objects.get(subscription=critical, recipient=ann).status == Delivery.Status.SENT
    assert addresses(provider) == ["addr-ann", "addr-bob"]  # ann only through the critical one
