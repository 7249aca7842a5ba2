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

Contract: subclass :class:`MessengerContract` in your plugin's tests and implement its
three fixtures; its tests then check your messenger the way the core will use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

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
