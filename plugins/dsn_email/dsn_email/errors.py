"""What an exception from an email backend means for a delivery.

SMTP reply codes decide: 5xx is permanent, 4xx is worth retrying, and an authentication
failure is the site's configuration. django-anymail's exceptions are mapped the same way
from the ESP's HTTP status. Nothing here ever includes a password: smtplib's errors carry
the server's reply only.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from dsn_core.api import ConfigurationError, DeliveryError, PermanentError, TransientError


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _by_code(code: int, what: str) -> DeliveryError:
    if 500 <= code < 600:
        return PermanentError(what)
    return TransientError(what)


def _refused(exc: smtplib.SMTPRecipientsRefused, address: str) -> DeliveryError:
    replies = exc.recipients or {}
    code, reply = replies.get(address) or next(iter(replies.values()), (0, b""))
    return _by_code(int(code), f"recipient refused: {code} {_text(reply)}".strip())


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _anymail_errors() -> Any:
    """``anymail.exceptions`` if it is loaded, else ``None``.

    django-anymail is optional, and an anymail error can only exist once anymail is loaded:
    looking the module up instead of importing it keeps processes that never send light.
    """
    return sys.modules.get("anymail.exceptions")


def _is_anymail_error(exc: BaseException) -> bool:
    errors = _anymail_errors()
    return errors is not None and isinstance(exc, errors.AnymailError)


def _anymail(exc: Exception) -> DeliveryError | None:
    errors = _anymail_errors()
    if errors is None or not isinstance(exc, errors.AnymailError):
        return None
    status = getattr(exc, "status_code", None)
    try:
        detail = str(exc)
    except Exception:  # anymail formats its response lazily; never let that hide the error
        detail = str(exc.args[0]) if exc.args else ""
    text = f"{type(exc).__name__}{f' (HTTP {status})' if status else ''}: {detail}"
    if isinstance(exc, (errors.AnymailRecipientsRefused, errors.AnymailInvalidAddress)):
        return PermanentError(text)
    if isinstance(exc, errors.AnymailUnsupportedFeature):
        return ConfigurationError(text)
    if isinstance(exc, errors.AnymailAPIError) and status is not None:
        if status in (401, 403):
            return ConfigurationError(text)
        if status == 429:
            return TransientError(text, retry_after=_retry_after(getattr(exc, "response", None)))
        if 400 <= status < 500:
            return PermanentError(text)
    return TransientError(text)


def classify(exc: BaseException, address: str = "") -> DeliveryError:
    """The :class:`~dsn_core.errors.DeliveryError` that ``exc`` amounts to for ``address``."""
    if isinstance(exc, DeliveryError):
        return exc
    # Before OSError: anymail's requests-based errors are requests.HTTPError, an OSError.
    mapped = _anymail(exc) if isinstance(exc, Exception) else None
    if mapped is not None:
        return mapped
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return ConfigurationError(f"SMTP authentication failed: {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _refused(exc, address)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        what = f"sender {exc.sender!r} refused: {exc.smtp_code} {_text(exc.smtp_error)}"
        return ConfigurationError(what) if exc.smtp_code >= 500 else TransientError(what)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ConfigurationError(f"SMTP server does not support a required feature: {exc}")
    if isinstance(exc, smtplib.SMTPResponseException):  # SMTPDataError, SMTPHeloError ...
        return _by_code(int(exc.smtp_code), f"SMTP error {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientError(f"SMTP server disconnected: {exc}")
    if isinstance(exc, smtplib.SMTPException):
        return TransientError(f"SMTP error: {exc}")
    if isinstance(exc, (ssl.SSLCertVerificationError, ssl.CertificateError)):
        return ConfigurationError(f"TLS certificate problem: {exc}")
    if isinstance(exc, TimeoutError):
        return TransientError(f"timed out talking to the mail server: {exc}".rstrip(": "))
    if isinstance(exc, OSError):  # refused, reset, unreachable, TLS handshake failures
        return TransientError(f"cannot reach the mail server: {type(exc).__name__}: {exc}")
    if isinstance(exc, ImproperlyConfigured):
        return ConfigurationError(f"email configuration: {exc}")
    if isinstance(exc, ValueError):  # BadHeaderError, unparseable addresses
        return PermanentError(f"message rejected by the email backend: {exc}")
    return TransientError(f"{type(exc).__name__}: {exc}")


def breaks_connection(exc: BaseException) -> bool:
    """Whether the SMTP session is unusable after ``exc`` (so the next message reconnects).

    A refused recipient or a rejected message leaves the session usable (smtplib sends
    RSET); a 421 reply, a disconnect or a socket error does not.
    """
    if _is_anymail_error(exc):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in (exc.recipients or {}).values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421
    if isinstance(exc, smtplib.SMTPException):
        return isinstance(exc, smtplib.SMTPServerDisconnected)
    return isinstance(exc, OSError)
