"""Turning twilio exceptions (and ``requests`` ones, through :mod:`dsn_core.http`) into DSN delivery errors.

The mapping follows Twilio's error dictionary (https://www.twilio.com/docs/api/errors):
codes that mean "this number will never work" are permanent, credential problems are
configuration errors, throttling and server errors are transient.
"""

from __future__ import annotations

from collections.abc import Mapping

from dsn_core.api import (
    ConfigurationError,
    DeliveryError,
    PermanentError,
    TransientError,
    error_for_exception,
    error_for_status,
    redact_error,
    retry_after_from,
)

#: The recipient replied STOP: Twilio refuses every message to them until they send START.
OPTED_OUT = 21610
#: Codes for which the recipient's address should be marked inactive in the address book.
DEACTIVATE_CODES = frozenset({OPTED_OUT})
#: The "To" number can never receive this message.
PERMANENT_CODES = frozenset(
    {
        21211,  # invalid 'To' phone number
        21214,  # 'To' number cannot be reached
        21217,  # phone number does not appear to be valid
        21408,  # permission to send to this region is not enabled
        21612,  # the 'To' number is not reachable via SMS
        21614,  # 'To' number is not a valid mobile number
        21617,  # body exceeds the 1600 character limit
        OPTED_OUT,
    }
)
#: The site's settings are wrong: retry once an admin fixes them.
CONFIGURATION_CODES = frozenset(
    {
        20003,  # authentication failed (bad ACCOUNT_SID / AUTH_TOKEN)
        20404,  # resource not found (usually a wrong ACCOUNT_SID)
        21212,  # invalid 'From' number
        21606,  # the 'From' number is not a valid SMS-capable number of this account
        21659,  # 'From' is not a Twilio number of this account
        21702,  # messaging service SID is invalid
        21703,  # messaging service has no phone numbers
    }
)
TOO_MANY_REQUESTS = 20429


def classify(status: int, code: int | None, text: str, headers: Mapping[str, str] | None = None) -> DeliveryError:
    """The DSN error for a Twilio error answer with HTTP ``status`` and Twilio ``code``.

    Twilio's codes decide first; the HTTP status decides the rest (:func:`dsn_core.http.error_for_status`).
    """
    label = f"Twilio error {code}" if code and code != status else f"Twilio HTTP {status}"
    message = f"{label}: {text}".rstrip(": ")
    if code == TOO_MANY_REQUESTS:
        return TransientError(message, retry_after=retry_after_from(headers))
    if code in CONFIGURATION_CODES:
        return ConfigurationError(message)
    if code in PERMANENT_CODES:
        return PermanentError(message)
    error = error_for_status(status, text, provider="Twilio", headers=headers)
    if error is None:  # an error raised on a 2xx/3xx answer: the SDK did not understand it
        return TransientError(message)
    return type(error)(message, retry_after=error.retry_after)


def translate(exc: Exception, headers: Mapping[str, str] | None = None, secrets: tuple[str, ...] = ()) -> DeliveryError:
    """The DSN error for an exception raised while sending; secrets are scrubbed from its text."""
    # Imported here, not at module level: only workers (which send) need the twilio SDK.
    from twilio.base.exceptions import TwilioRestException, TwilioServiceException

    if isinstance(exc, TwilioRestException):
        error = classify(int(exc.status), _int(exc.code), str(exc.msg or ""), headers)
    elif isinstance(exc, TwilioServiceException):
        text = exc.title + (f": {exc.detail}" if exc.detail else "")
        error = classify(int(exc.status), _int(exc.code), text, headers)
    elif (http_error := error_for_exception(exc, provider="Twilio", secrets=secrets)) is not None:
        return http_error
    elif isinstance(exc, ValueError):  # twilio raising on an unparseable answer
        error = TransientError(f"unexpected answer from Twilio: {exc}")
    else:
        raise exc
    return redact_error(error, secrets)


def error_code(exc: Exception) -> int | None:
    """The Twilio error code of a twilio exception, if it has one."""
    from twilio.base.exceptions import TwilioRestException, TwilioServiceException

    if isinstance(exc, (TwilioRestException, TwilioServiceException)):
        return _int(exc.code)
    return None


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
