"""The ``DSN["TWITTER"]`` settings, read in one place. Secrets never appear in messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from dsn_core.api import setting

SECTION = "TWITTER"
CREDENTIALS = ("CONSUMER_KEY", "CONSUMER_SECRET", "ACCESS_TOKEN", "ACCESS_TOKEN_SECRET")
DEFAULT_TIMEOUT = 10.0
#: X's per-user window for posting tweets and for sending DMs (15 minutes).
DEFAULT_RATE_LIMIT = (200, 900.0)


@dataclass(frozen=True)
class TwitterConfig:
    """Validated X settings (OAuth 1.0a user context of the posting account)."""

    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)
    api_base_url: str = ""
    timeout: float = DEFAULT_TIMEOUT
    rate_limit: tuple[int, float] = DEFAULT_RATE_LIMIT

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret, for scrubbing error texts."""
        return (self.consumer_secret, self.access_token_secret, self.access_token, self.consumer_key)


def _optional(name: str, default: Any = "") -> Any:
    return setting(SECTION, name, env=f"DSN_TWITTER_{name}", default=default)


def load() -> TwitterConfig:
    """Read and check the settings; raise ``ImproperlyConfigured`` naming the first wrong key."""
    consumer_key, consumer_secret, access_token, access_token_secret = (
        str(setting(SECTION, name, env=f"DSN_TWITTER_{name}")) for name in CREDENTIALS
    )
    base = str(_optional("API_BASE_URL")).rstrip("/")
    if base and not base.startswith(("http://", "https://")):
        raise ImproperlyConfigured('DSN: settings.DSN["TWITTER"]["API_BASE_URL"] must start with http:// or https://.')
    try:
        timeout = float(_optional("TIMEOUT", DEFAULT_TIMEOUT))
    except (TypeError, ValueError):
        timeout = -1.0
    if timeout <= 0:
        raise ImproperlyConfigured('DSN: settings.DSN["TWITTER"]["TIMEOUT"] must be a positive number of seconds.')
    raw_limit = _optional("RATE_LIMIT", DEFAULT_RATE_LIMIT)
    try:
        count, per = int(raw_limit[0]), float(raw_limit[1])
        if count < 1 or per <= 0:
            raise ValueError
    except (TypeError, ValueError, IndexError):
        raise ImproperlyConfigured(
            'DSN: settings.DSN["TWITTER"]["RATE_LIMIT"] must be (messages, seconds), like (200, 900).'
        ) from None
    return TwitterConfig(
        consumer_key,
        consumer_secret,
        access_token,
        access_token_secret,
        api_base_url=base,
        timeout=timeout,
        rate_limit=(count, per),
    )


def check() -> list[CheckMessage]:
    """One error per missing credential or malformed setting (values never shown)."""
    messages: list[CheckMessage] = []
    for name in CREDENTIALS:
        try:
            setting(SECTION, name, env=f"DSN_TWITTER_{name}")
        except ImproperlyConfigured as exc:
            messages.append(Error(f"DSN X/Twitter (dsn-twitter): {exc}", id="dsn_twitter.E001"))
    if messages:
        return messages
    try:
        load()
    except ImproperlyConfigured as exc:
        messages.append(Error(f"DSN X/Twitter (dsn-twitter): {exc}", id="dsn_twitter.E001"))
    return messages
