"""Fixtures for orchestration: a stepped clock, three address-book channels, a flow to configure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType

from dsn_core import hookimpl
from dsn_core.errors import PermanentError
from dsn_core.messengers import Message, Messenger, SendResult
from dsn_core.models import Backend, MessageTemplate, Subscription, SubscriptionPolicy, Trigger
from tests.delivery.conftest import need_postgres, provider  # noqa: F401  (real-process tests)
from tests.testapp.models import Article

#: (messenger key, address, text) of every message the test channels sent.
SENT: list[tuple[str, str, str]] = []


class _BookMessenger(Messenger):
    """Addresses from the address book; an address starting with "dead" fails for good."""

    def send(self, message: Message) -> SendResult:
        if message.address.startswith("dead"):
            raise PermanentError(f"{self.key}: {message.address} does not exist")
        SENT.append((self.key, message.address, message.text))
        return SendResult(provider_id=f"{self.key}-{len(SENT)}")


class Chat(_BookMessenger):
    key, label = "chat", "Chat"


class Mail(_BookMessenger):
    key, label = "mail", "Mail"


class Pager(_BookMessenger):
    key, label = "pager", "Pager"


class ChannelsPlugin:
    @hookimpl
    def register_messengers(self, register: Any) -> None:
        for cls in (Chat, Mail, Pager):
            register(cls)


@pytest.fixture
def channels(dsn_plugin: Any) -> list[tuple[str, str, str]]:
    from dsn_core import rendering

    dsn_plugin("orchestration-channels", ChannelsPlugin())
    rendering._cache.clear()
    SENT.clear()
    return SENT


class Clock:
    """``django.utils.timezone.now`` under the test's control."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    from django.utils import timezone

    from dsn_core import rendering

    stepped = Clock(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))
    rendering._cache.clear()  # compiled templates are cached by (pk, updated_at): frozen time repeats both
    monkeypatch.setattr(timezone, "now", stepped)
    yield stepped


@pytest.fixture
def flow(db: Any, channels: Any) -> Any:
    """``flow(*messengers, users=[...], **policy)``: a post_save trigger on Article, one backend per
    messenger (in this chain order), and a policy when options are given."""

    def make(
        *messengers: str, users: Any = (), text: str = "{{ instance }}", critical: bool = False, **policy: Any
    ) -> Subscription:
        trigger = Trigger.objects.create(
            name="article saved", verb="post_save", action_object_type=ContentType.objects.get_for_model(Article)
        )
        template = MessageTemplate.objects.create(name="tpl", subject="s", text=text)
        sub = Subscription.objects.create(trigger=trigger, critical=critical)
        for position, key in enumerate(messengers or ("chat",)):
            backend = Backend.objects.create(name=f"{position}-{key}", messenger=key, template=template)
            sub.backends.add(backend)
            sub.fallback_steps.create(backend=backend, position=position)
        sub.receiver_users.add(*users)
        if policy:
            SubscriptionPolicy.objects.create(subscription=sub, **policy)
        return sub

    return make


@pytest.fixture
def person(django_user_model: Any) -> Any:
    from dsn_core.models import Address

    user = django_user_model.objects.create_user("ann")
    for key in ("chat", "mail", "pager"):
        Address.objects.create(user=user, messenger=key, address=f"ann-{key}")
    return user


def event(title: str = "e") -> Article:
    """Fire one event and fan it out and send it, here and now."""
    from dsn_core.testing import flush

    article = Article.objects.create(title=title)
    flush()
    return article
