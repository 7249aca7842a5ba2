"""The shared rate limiter's schedule, on a clock the test moves (no real waiting).

The limiter's contract is about when messages *leave*: no window of ``per`` seconds holds more
than ``count`` of them. These tests drive :func:`dsn_core.ratelimit.wait_for_turn` with a fake
clock and a fake sleep, record the moment each call returns (the moment the message would go
to the provider) and count the busiest window.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from dsn_core import ratelimit
from dsn_core.messengers import RateLimit
from dsn_core.models import RateState

pytestmark = pytest.mark.django_db

T0 = 1_000_000.0


class Limited:
    """The two attributes the limiter reads off a messenger."""

    key = "limited"

    def __init__(self, *limits: RateLimit) -> None:
        self.limits = limits

    def rate_limits_for(self, address: str) -> Sequence[RateLimit]:
        return self.limits


class Clock:
    """A clock that moves only when the limiter sleeps (plus any lateness the test injects)."""

    def __init__(self) -> None:
        self.now = T0
        self.late: dict[int, float] = {}  # call number -> extra seconds its wake-up takes
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + self.late.get(self.calls, 0.0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ratelimit, "clock", fake)
    monkeypatch.setattr(ratelimit, "sleep", fake.sleep)
    return fake


def busiest(times: list[float], window: float) -> int:
    """The most times inside any half-open window ``[t, t + window)``."""
    times = sorted(times)
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


def send(clock: Clock, messenger: Limited, address: str) -> float:
    clock.calls += 1
    ratelimit.wait_for_turn(messenger, address)
    return clock.now


def test_a_late_wake_up_moves_the_schedule_by_its_lateness(clock: Clock) -> None:
    messenger = Limited(RateLimit(10, 1.0))
    clock.late = {5: 0.3}  # the 5th message wakes 300 ms after its slot; the rest on time
    times = [send(clock, messenger, "a") for _ in range(40)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert busiest(times, 1.0) == 10
    assert min(gaps) == pytest.approx(0.102), "every message keeps its spacing from the late one"


def test_lateness_the_margin_absorbs_writes_nothing(clock: Clock) -> None:
    messenger = Limited(RateLimit(10, 1.0))
    assert ratelimit.late_after(messenger.limits, 0.02) == pytest.approx(0.010)
    send(clock, messenger, "a")
    clock.late = {2: 0.009}
    send(clock, messenger, "a")
    assert RateState.objects.get().tat == pytest.approx(T0 + 2 * 0.102)
    clock.late = {3: 0.011}
    send(clock, messenger, "a")
    assert RateState.objects.get().tat == pytest.approx(T0 + 3 * 0.102 + 0.011)


def test_a_message_under_two_limits_takes_one_slot_on_both() -> None:
    """Many workers reserve at once (the clock stands still); each message leaves at its slot.

    The second message to chat "x" must wait a second for the chat's limit. Its slot on the
    bot-wide limit must be that second too: a bot-wide slot reserved for it earlier would go
    unused while the messages reserved after it fill the same second.
    """
    addresses = ["x", "x", *(f"chat{i}" for i in range(20))]
    leaves = {}
    for n, address in enumerate(addresses):
        leaves[n] = ratelimit.reserve_all({"limited:*:10/1": 0.102, f"limited:{address}:1/1": 1.02}, now=T0)
    assert leaves[1] == pytest.approx(T0 + 1.02), "the chat's own limit holds"
    assert busiest(list(leaves.values()), 1.0) <= 10, "the bot-wide limit holds"
    assert busiest([leaves[0], leaves[1]], 1.0) == 1


def test_wait_for_turn_reserves_every_limit_together(clock: Clock) -> None:
    messenger = Limited(RateLimit(10, 1.0), RateLimit(1, 1.0, scope="address"))
    times = [send(clock, messenger, "x") for _ in range(3)]
    assert [round(t - T0, 3) for t in times] == [0.0, 1.02, 2.04]
    tats = dict(RateState.objects.values_list("key", "tat"))
    assert tats == {
        "limited:*:10/1": pytest.approx(T0 + 2.04 + 0.102),
        "limited:x:1/1": pytest.approx(T0 + 2.04 + 1.02),
    }
