"""Whether a channel can send: its messenger's own configuration checks, in words for the admin.

A messenger is *ready* when its ``check()`` reports no error. Warnings (a bot username
missing, so users cannot link chats) do not stop sending, so they do not make it unready.
The result is cached for a few seconds per process: dropdowns ask for every messenger on
every page, and some checks (an SMTP connection test) are not free.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from django.core.checks import ERROR
from django.core.signals import setting_changed

#: Seconds a readiness answer is reused within one process.
CACHE_SECONDS = 10.0

_cache: dict[type, tuple[float, Readiness]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Readiness:
    """A messenger's readiness: ``ready``, or the first configuration problem, in words."""

    ready: bool
    problem: str = ""
    hint: str = ""


def readiness(cls: type) -> Readiness:
    """Run ``cls.check()`` (cached briefly) and say whether the channel can send."""
    now = time.monotonic()
    with _lock:
        hit = _cache.get(cls)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    try:
        found = list(cls.check())  # type: ignore[attr-defined]
    except Exception as exc:  # a broken check() must not break the admin
        result = Readiness(False, f"its configuration check failed ({type(exc).__name__})")
    else:
        errors = [m for m in found if m.level >= ERROR]
        if errors:
            result = Readiness(False, plain(str(errors[0].msg)), str(errors[0].hint or ""))
        else:
            result = Readiness(True)
    with _lock:
        _cache[cls] = (now, result)
    return result


_PREFIX = re.compile(r"^DSN\b[^:.\[\]]{0,40}:\s*")


def plain(message: str) -> str:
    """A check message without its "DSN Telegram: " / "DSN: " prefixes, sentences capitalised:
    "DSN Telegram: no bot token. DSN: set ..." reads "No bot token. Set ..."."""
    sentences = []
    for part in message.strip().split(". "):
        while _PREFIX.match(part):
            part = _PREFIX.sub("", part, count=1)
        sentences.append(part[:1].upper() + part[1:])
    return ". ".join(sentences)


def clear_cache() -> None:
    """Forget cached answers (tests that change settings call this)."""
    with _lock:
        _cache.clear()


def choice_label(cls: type) -> str:
    """The messenger's label for a dropdown, marked when it is not configured."""
    state = readiness(cls)
    label = str(cls.label)  # type: ignore[attr-defined]
    return label if state.ready else f"{label} — not configured: {state.problem}"


def _settings_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "DSN" or setting.startswith(("EMAIL", "MAILERS")):
        clear_cache()


setting_changed.connect(_settings_changed, dispatch_uid="dsn_core.readiness")
