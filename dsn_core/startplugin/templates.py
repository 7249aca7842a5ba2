"""The files ``startplugin`` writes, as :class:`string.Template` texts (``$key``, ``$Class`` ...)."""

from __future__ import annotations

PYPROJECT = """\
[project]
name = "$dist"
version = "0.1.0"
description = "$Label messenger for DSN (Django signal notifications)."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["dsn-core$core_range"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-django>=4.9"]

[project.entry-points.dsn]
$key = "$package.plugin"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["$package"]

[tool.pytest.ini_options]
DJANGO_SETTINGS_MODULE = "tests.settings"
pythonpath = ["."]
testpaths = ["tests"]
"""

README = """\
# $dist

A [DSN](https://pypi.org/project/dsn-core/) messenger: sends DSN's messages through the $Label API.

## Install

    pip install $dist

Restart the site and "$Label" is in the Backend form's messenger dropdown.

## Settings

```python
DSN = {
    "$SECTION": {
        "API_KEY": "...",            # or the environment variable DSN_${SECTION}_API_KEY
        "API_BASE_URL": "https://api.$key.example",   # optional
        "TIMEOUT": 10,               # optional: seconds for each call to the API
    },
}
```

`manage.py check` says exactly what is missing. The key is never shown in the admin or logs.

## Backend options

| option | meaning |
| --- | --- |
| `sender` | the sender name recipients see (optional) |

## Errors

| the API answers | the delivery |
| --- | --- |
| 429 (with `Retry-After`, seconds or a date) | retried, not before `Retry-After` |
| 401 / 403 | retried; reported as a configuration error |
| 400 / 404 / 422 | dead: the address cannot receive |
| 5xx, a refused connection, a timeout | retried with backoff |

## Develop

    pip install -e ".[test]"
    pytest

The tests run DSN's messenger contracts (`dsn_core.testing`) against a fake $Label API on
127.0.0.1. Change `$package/messenger.py` to speak the real API, and `provider_reply` in
`tests/test_messenger.py` to answer in its wire format.
"""

INIT = '''\
"""$Label for DSN: a messenger plugin."""
'''

MESSENGER = '''\
"""The ``$key`` messenger: one JSON POST to the $Label API per message."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from dsn_core.api import (
    ConfigurationError,
    DeliveryError,
    Message,
    Messenger,
    Option,
    PermanentError,
    RateLimit,
    SendResult,
    TransientError,
    setting,
)

SECTION = "$SECTION"
DEFAULT_API = "https://api.$key.example"


def api_key() -> str:
    """The API key, from settings.DSN["$SECTION"]["API_KEY"] or DSN_${SECTION}_API_KEY."""
    return str(setting(SECTION, "API_KEY", env="DSN_${SECTION}_API_KEY"))


class ${Class}Messenger(Messenger):
    key = "$key"                    # stored in the database: never change it
    label = "$Label"                # shown in the admin dropdown
    options = (Option("sender", "the sender name recipients see", default=""),)
    rate_limits = (RateLimit(10, 1.0),)
    max_batch_size = 50

    @classmethod
    def check(cls) -> list[checks.CheckMessage]:
        try:
            api_key()
        except ImproperlyConfigured as exc:
            return [checks.Error(str(exc), id="$package.E001")]
        return []

    def open(self) -> None:
        """Once per batch: read the settings (a missing key is a configuration error)."""
        try:
            key = api_key()
        except ImproperlyConfigured as exc:
            raise ConfigurationError(str(exc)) from None
        base = str(setting(SECTION, "API_BASE_URL", default=DEFAULT_API)).rstrip("/")
        self.url = f"{base}/v1/messages"
        self.timeout = float(setting(SECTION, "TIMEOUT", default=10.0))
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def send(self, message: Message) -> SendResult:
        body: dict[str, Any] = {"to": message.address, "text": message.text}
        if self.option_values.get("sender"):
            body["sender"] = self.option_values["sender"]
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), method="POST",
            headers={**self.headers, "Idempotency-Key": message.idempotency_key},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            raise error_for(exc.code, exc.headers.get("Retry-After")) from None
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out
            raise TransientError(f"$Label unreachable: {type(exc).__name__}") from None
        except ValueError:
            raise TransientError("$Label answered something that is not JSON") from None
        return SendResult(provider_id=str(answer.get("id", "")))


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds: it is either a number of seconds or an HTTP-date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_for(status: int, retry_after: str | None) -> DeliveryError:
    """Map an HTTP error to DSN's outcome. Never put the answer's body in the text: providers
    echo requests (and so the key) back, and admins read these texts."""
    if status == 429:
        return TransientError("$Label: rate limited", retry_after=retry_after_seconds(retry_after) or 60.0)
    if status in (401, 403):
        return ConfigurationError(f"$Label refused the API key (HTTP {status}): check DSN['$SECTION']['API_KEY']")
    if status in (400, 404, 410, 422):
        return PermanentError(f"$Label refused the message or its address (HTTP {status})")
    return TransientError(f"$Label answered HTTP {status}")
'''

PLUGIN = '''\
"""The DSN plugin module: the ``dsn`` entry point of $dist points here."""

from __future__ import annotations

from collections.abc import Callable

from dsn_core.api import hookimpl

from .messenger import ${Class}Messenger


@hookimpl
def register_messengers(register: Callable[[type], None]) -> None:
    register(${Class}Messenger)
'''

TEST_SETTINGS = '''\
"""A minimal Django site for the plugin's tests."""

SECRET_KEY = "tests"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django_tasks", "django_tasks_db",
                  "dsn_core"]
try:
    import django.tasks  # noqa: F401  (Django 6: the Tasks API is built in)

    INSTALLED_APPS.remove("django_tasks")
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
except ImportError:
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
DSN = {"$SECTION": {"API_KEY": "test-key-$key"}}
'''

TESTS = '''\
"""DSN's messenger contracts against a fake $Label API, and one event end to end."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from dsn_core.api import set_address
from dsn_core.models import Backend, Delivery, MessageTemplate, Subscription, Trigger
from dsn_core.plugins import messenger_choices
from dsn_core.testing import HttpMessengerContract, MessengerContract

from $package.messenger import ${Class}Messenger

KEY = "test-key-$key"


@pytest.fixture
def api(dsn_fake_provider, settings):
    """The fake $Label API, and the settings pointing the messenger at it."""
    settings.DSN = {"$SECTION": {"API_KEY": KEY, "API_BASE_URL": dsn_fake_provider.url, "TIMEOUT": 2}}
    return dsn_fake_provider


class Test${Class}Contract(MessengerContract, HttpMessengerContract):
    hang_for = 8.0  # the fake holds a hanging reply this long; TIMEOUT (2 s) must end it sooner

    @pytest.fixture
    def messenger(self, api):
        return ${Class}Messenger({"sender": "Tests"})

    @pytest.fixture
    def address(self):
        return "alice"

    @pytest.fixture
    def received(self, api):
        return lambda: [request.json() for request in api.requests]

    @pytest.fixture
    def messenger_at(self, settings):
        def make(url):
            settings.DSN = {"$SECTION": {"API_KEY": KEY, "API_BASE_URL": url, "TIMEOUT": 2}}
            return ${Class}Messenger({})

        return make

    @pytest.fixture
    def provider_secrets(self):
        return [KEY]


def test_what_the_api_receives(api):
    with ${Class}Messenger({"sender": "Shop"}) as messenger:
        [outcome] = messenger.send_batch([MessengerContract()._message("alice", "Hi")])
    assert outcome.provider_id == "fake-1"
    [request] = api.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.json() == {"to": "alice", "text": "Hi", "sender": "Shop"}


def test_installed_through_the_entry_point():
    assert ("$key", "$Label") in messenger_choices()


@pytest.mark.django_db
def test_a_saved_user_is_announced(api, django_capture_on_commit_callbacks):
    ann = User.objects.create_user("ann")
    set_address(ann, "$key", "ann-address")
    trigger = Trigger.objects.create(name="new user", verb="post_save",
                                     action_object_type=ContentType.objects.get_for_model(User))
    template = MessageTemplate.objects.create(name="welcome", text="Welcome, {{ instance.username }}!")
    subscription = Subscription.objects.create(trigger=trigger)
    subscription.backends.add(Backend.objects.create(name="$key", messenger="$key", template=template))
    subscription.receiver_users.add(ann)
    with django_capture_on_commit_callbacks(execute=True):
        User.objects.create_user("bob")
    assert [request.json()["text"] for request in api.requests] == ["Welcome, bob!"]
    assert Delivery.objects.get().status == "sent"
'''

#: relative path (a Template too) -> content template
FILES: dict[str, str] = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "$package/__init__.py": INIT,
    "$package/py.typed": "",
    "$package/messenger.py": MESSENGER,
    "$package/plugin.py": PLUGIN,
    "tests/__init__.py": "",
    "tests/settings.py": TEST_SETTINGS,
    "tests/test_messenger.py": TESTS,
}
