"""The HTTP messenger contract (``dsn_core.testing.HttpMessengerContract``) passes for a correct
messenger (the one ``startplugin`` writes) and catches each mistake a provider would punish."""

from __future__ import annotations

import importlib
import inspect
import sys
import urllib.request
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from dsn_core.api import DeliveryError, PermanentError, TransientError
from dsn_core.startplugin import write
from dsn_core.testing import FakeProvider, HttpMessengerContract, Reply, http_date

KEY = "kit-secret-key-123"


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The messenger module of a distribution freshly written by startplugin."""
    root = tmp_path_factory.mktemp("startplugin")
    write("kit", root / "dsn-kit")
    sys.path.insert(0, str(root / "dsn-kit"))
    try:
        yield importlib.import_module("dsn_kit.messenger")
    finally:
        sys.path.remove(str(root / "dsn-kit"))
        for name in [m for m in sys.modules if m.startswith("dsn_kit")]:
            del sys.modules[name]


def _factory(settings: Any, cls: type) -> Callable[[str], Any]:
    def make(url: str) -> Any:
        settings.DSN = {"KIT": {"API_KEY": KEY, "API_BASE_URL": url, "TIMEOUT": 1}}
        return cls({})

    return make


class TestTheStartersMessengerPasses(HttpMessengerContract):
    hang_for = 6.0

    @pytest.fixture
    def messenger_at(self, kit: ModuleType, settings: Any) -> Callable[[str], Any]:
        return _factory(settings, kit.KitMessenger)

    @pytest.fixture
    def address(self) -> str:
        return "alice"

    @pytest.fixture
    def provider_secrets(self) -> list[str]:
        return [KEY]


# -- the fake provider itself -------------------------------------------------------------------


def test_the_fake_provider_records_and_answers(dsn_fake_provider: FakeProvider) -> None:
    import json

    dsn_fake_provider.respond(lambda request: Reply(201, {"got": request.json()}, {"X-Seen": request.path}))
    req = urllib.request.Request(f"{dsn_fake_provider.url}/v1/x?to=a%2Bb", data=b'{"a": 1}', method="POST")
    with urllib.request.urlopen(req, timeout=5) as response:
        assert response.status == 201 and response.headers["X-Seen"] == "/v1/x?to=a%2Bb"
        assert json.load(response) == {"got": {"a": 1}}
    [request] = dsn_fake_provider.requests
    assert request.method == "POST" and "to=a+b" in request.text
    with pytest.raises(OSError):
        urllib.request.urlopen(dsn_fake_provider.refused_url, timeout=5)


def test_http_date_is_in_the_future() -> None:
    from email.utils import parsedate_to_datetime

    from django.utils import timezone

    ahead = (parsedate_to_datetime(http_date(120)) - timezone.now()).total_seconds()
    assert 118 <= ahead <= 121


# -- each deliberate mistake fails its contract case ---------------------------------------------


def _unmapped_429(kit: ModuleType, monkeypatch: pytest.MonkeyPatch) -> type:
    original = kit.error_for
    monkeypatch.setattr(
        kit,
        "error_for",
        lambda status, retry_after: TransientError("HTTP 429") if status == 429 else original(status, retry_after),
    )
    return kit.KitMessenger


def _seconds_only(kit: ModuleType, monkeypatch: pytest.MonkeyPatch) -> type:
    def seconds(value: str | None) -> float | None:
        try:
            return float(value or "")
        except ValueError:
            return None

    monkeypatch.setattr(kit, "retry_after_seconds", seconds)
    return kit.KitMessenger


def _escaping_connection_error(kit: ModuleType, monkeypatch: pytest.MonkeyPatch) -> type:
    class Escaping(kit.KitMessenger):  # type: ignore[name-defined,misc]
        def send(self, message: Any) -> Any:
            urllib.request.urlopen(self.url, timeout=1)  # a URLError escapes send
            return super().send(message)

    return Escaping


def _leaky(kit: ModuleType, monkeypatch: pytest.MonkeyPatch) -> type:
    class Leaky(kit.KitMessenger):  # type: ignore[name-defined,misc]
        def send(self, message: Any) -> Any:
            try:
                return super().send(message)
            except DeliveryError as exc:
                raise type(exc)(f"{exc} (request headers: {self.headers})", retry_after=exc.retry_after) from None

    return Leaky


def _no_timeout(kit: ModuleType, monkeypatch: pytest.MonkeyPatch) -> type:
    class Patient(kit.KitMessenger):  # type: ignore[name-defined,misc]
        def open(self) -> None:
            super().open()
            self.timeout = None

    return Patient


def _401_is_permanent(kit: ModuleType, monkeypatch: pytest.MonkeyPatch) -> type:
    original = kit.error_for
    monkeypatch.setattr(
        kit,
        "error_for",
        lambda status, retry_after: PermanentError("no") if status == 401 else original(status, retry_after),
    )
    return kit.KitMessenger


def _batch_gives_up(kit: ModuleType, monkeypatch: pytest.MonkeyPatch) -> type:
    class GivesUp(kit.KitMessenger):  # type: ignore[name-defined,misc]
        def send_batch(self, messages: Any) -> list[Any]:
            out: list[Any] = []
            for i, message in enumerate(messages):
                try:
                    out.append(self.send(message))
                except DeliveryError as exc:
                    out.append(exc)
                    out.extend(PermanentError("not tried") for _ in messages[i + 1 :])
                    break
            return out

    return GivesUp


MISTAKES = {
    "unmapped 429": (_unmapped_429, "test_contract_429_retry_after_seconds"),
    "Retry-After date ignored": (_seconds_only, "test_contract_429_retry_after_http_date"),
    "connection error escapes send": (_escaping_connection_error, "test_contract_connection_refused_is_transient"),
    "secret in the error text": (_leaky, "test_contract_no_secret_in_any_error_text"),
    "no timeout": (_no_timeout, "test_contract_timeout_is_transient"),
    "401 not a configuration error": (_401_is_permanent, "test_contract_401_is_a_configuration_error"),
    "batch stops at a bad address": (_batch_gives_up, "test_contract_batch_with_one_bad_address"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_the_contract_catches(
    mistake: str, kit: ModuleType, settings: Any, monkeypatch: pytest.MonkeyPatch, dsn_fake_provider: FakeProvider
) -> None:
    make_class, case = MISTAKES[mistake]
    contract = HttpMessengerContract()
    contract.hang_for = 4.0
    method = getattr(contract, case)
    given = {
        "contract_provider": dsn_fake_provider,
        "messenger_at": _factory(settings, make_class(kit, monkeypatch)),
        "address": "alice",
        "provider_secrets": [KEY],
    }
    kwargs = {name: given[name] for name in inspect.signature(method).parameters}
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        method(**kwargs)
