"""The mapping from email backend exceptions to DSN's delivery errors."""

from __future__ import annotations

import smtplib
import ssl

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from dsn_email.errors import breaks_connection, classify

from dsn_core.errors import ConfigurationError, PermanentError, TransientError

# Django 6.1 raises plain ValueError for header injection (BadHeaderError, a ValueError, is deprecated).
BadHeaderError = ValueError if hasattr(mail, "mailers") else mail.BadHeaderError


@pytest.mark.parametrize(
    ("exc", "kind", "breaks"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x.test": (550, b"no such user")}), PermanentError, False),
        (smtplib.SMTPRecipientsRefused({"a@x.test": (452, b"mailbox full")}), TransientError, False),
        (smtplib.SMTPRecipientsRefused({"a@x.test": (421, b"closing")}), TransientError, True),
        (smtplib.SMTPDataError(554, b"spam"), PermanentError, False),
        (smtplib.SMTPDataError(451, b"local error"), TransientError, False),
        (smtplib.SMTPSenderRefused(553, b"not your domain", "x@y.test"), ConfigurationError, False),
        (smtplib.SMTPSenderRefused(451, b"try later", "x@y.test"), TransientError, False),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), ConfigurationError, False),
        (smtplib.SMTPNotSupportedError("STARTTLS extension not supported"), ConfigurationError, False),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), TransientError, True),
        (ConnectionRefusedError(111, "Connection refused"), TransientError, True),
        (TimeoutError("timed out"), TransientError, True),
        (ssl.SSLCertVerificationError("certificate verify failed"), ConfigurationError, True),
        (ImproperlyConfigured("EMAIL_HOST missing"), ConfigurationError, False),
        (BadHeaderError("Header values can't contain newlines"), PermanentError, False),
        (RuntimeError("surprise"), TransientError, False),
    ],
)
def test_classify(exc: BaseException, kind: type, breaks: bool) -> None:
    error = classify(exc, "a@x.test")
    assert type(error) is kind, error
    assert str(error)
    assert breaks_connection(exc) is breaks


def test_refused_picks_the_code_of_this_recipient() -> None:
    exc = smtplib.SMTPRecipientsRefused({"b@x.test": (451, b"later"), "a@x.test": (550, b"never")})
    assert isinstance(classify(exc, "a@x.test"), PermanentError)
    assert isinstance(classify(exc, "b@x.test"), TransientError)
