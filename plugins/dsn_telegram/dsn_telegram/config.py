"""Reading ``DSN["TELEGRAM"]``: the bot token and the other settings of this plugin.

===================  ================================  ==========================================
key                  environment fallback              meaning
===================  ================================  ==========================================
``BOT_TOKEN``        ``DSN_TELEGRAM_BOT_TOKEN``        the token @BotFather gave (required)
``BOT_USERNAME``     ``DSN_TELEGRAM_BOT_USERNAME``     the bot's username, for deep links
``API_BASE_URL``     ``DSN_TELEGRAM_API_BASE_URL``     Bot API server (default api.telegram.org)
``WEBHOOK_SECRET``   ``DSN_TELEGRAM_WEBHOOK_SECRET``   secret Telegram sends with each update
``LINK_MAX_AGE``                                       seconds a "Connect" link stays valid
``TIMEOUT``                                            seconds for each Bot API request
===================  ================================  ==========================================

The token is a secret: nothing here ever puts it in a message; :func:`scrub` removes it
from text that may contain it (PTB's errors can include request URLs).
"""

from __future__ import annotations

import re

from dsn_core.api import setting

SECTION = "TELEGRAM"
DEFAULT_API_BASE_URL = "https://api.telegram.org"
DEFAULT_LINK_MAX_AGE = 3600.0
DEFAULT_TIMEOUT = 10.0

#: What a Bot API token looks like: ``<bot id>:<secret>``.
TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,}$")
#: What Telegram accepts as a webhook secret token.
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOKEN_IN_TEXT = re.compile(r"\d{3,20}:[A-Za-z0-9_-]{20,}")


def bot_token() -> str:
    """The bot token; raises ``ImproperlyConfigured`` naming the setting when it is missing."""
    return str(setting(SECTION, "BOT_TOKEN", env="DSN_TELEGRAM_BOT_TOKEN")).strip()


def bot_username() -> str:
    """The bot's username without ``@`` (``""`` when not set)."""
    value = setting(SECTION, "BOT_USERNAME", env="DSN_TELEGRAM_BOT_USERNAME", default="")
    return str(value).strip().lstrip("@")


def api_base_url() -> str:
    """The Bot API base URL in PTB's form, ending with ``/bot{token}`` (the placeholder PTB fills)."""
    root = str(setting(SECTION, "API_BASE_URL", env="DSN_TELEGRAM_API_BASE_URL", default=DEFAULT_API_BASE_URL))
    root = root.strip().rstrip("/")
    if "{token}" in root:
        return root
    return f"{root}/bot{{token}}"


def webhook_secret() -> str:
    """The webhook secret token (``""`` when webhooks are not configured)."""
    return str(setting(SECTION, "WEBHOOK_SECRET", env="DSN_TELEGRAM_WEBHOOK_SECRET", default="")).strip()


def link_max_age() -> float:
    """Seconds a "Connect Telegram" deep link stays valid."""
    return float(setting(SECTION, "LINK_MAX_AGE", default=DEFAULT_LINK_MAX_AGE))


def timeout() -> float:
    """Seconds allowed for connecting to, writing to and reading from the Bot API."""
    return float(setting(SECTION, "TIMEOUT", default=DEFAULT_TIMEOUT))


def scrub(text: str) -> str:
    """``text`` with the bot token (and anything shaped like one) replaced by ``<token>``."""
    try:
        token = bot_token()
    except Exception:
        token = ""
    if token:
        text = text.replace(token, "<token>")
    return _TOKEN_IN_TEXT.sub("<token>", text)
