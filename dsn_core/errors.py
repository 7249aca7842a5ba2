"""Exceptions that messengers and template engines raise, and that the core understands.

A messenger reports the outcome of one message either by returning a
:class:`~dsn_core.messengers.SendResult` or by returning/raising one of these errors.
The delivery pipeline maps them to delivery states:

* :class:`TransientError` -> ``failed`` and retried later (honouring ``retry_after``);
* :class:`PermanentError` -> ``dead`` at once, with the reason;
* :class:`ConfigurationError` -> retried like a transient error (an admin can fix the
  settings), but logged at error level and reported by ``manage.py check``.
"""

from __future__ import annotations


class DSNError(Exception):
    """Base class of every error DSN raises on purpose."""


class DeliveryError(DSNError):
    """A message could not be delivered. Subclasses say whether trying again can help."""

    #: Whether the pipeline should try the delivery again later.
    retryable: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: Seconds the provider asked us to wait before the next attempt (if it said).
        self.retry_after = retry_after


class TransientError(DeliveryError):
    """The provider is down, slow, or rate-limiting us: try again later."""

    retryable = True


class PermanentError(DeliveryError):
    """This message can never be delivered as it is (bad address, blocked, opted out)."""

    retryable = False


class ConfigurationError(DeliveryError):
    """The site's settings for the messenger are wrong (bad token, bad credentials)."""

    retryable = True


class MessengerNotInstalled(ConfigurationError):
    """The backend names a messenger whose plugin is not installed (or was blocked)."""


class TemplateError(DSNError):
    """A message template does not compile or does not render.

    ``line`` is the 1-based line number in the template source, when the engine knows it.
    """

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line
