"""Phone numbers and sender ids: validation and normalisation to E.164."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
#: Alphanumeric sender ids (allowed in some countries): 1-11 letters, digits or spaces, one letter at least.
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_SEPARATORS = re.compile(r"[\s\-().]")


def normalize(number: str) -> str:
    """Strip the separators people type (spaces, dashes, dots, parentheses); ``00`` becomes ``+``."""
    number = _SEPARATORS.sub("", str(number or ""))
    if number.startswith("00"):
        number = "+" + number[2:]
    return number


def is_e164(number: str) -> bool:
    """Whether ``number`` is already in E.164 form (``+`` country code and subscriber number)."""
    return bool(E164.fullmatch(number or ""))


def to_e164(number: str) -> str:
    """Normalise ``number`` and return it in E.164 form; raise ``ValidationError`` otherwise."""
    cleaned = normalize(number)
    if not is_e164(cleaned):
        raise ValidationError(
            "Enter a phone number in international E.164 format, like +14155550123 (got %(value)r).",
            code="invalid_phone",
            params={"value": number},
        )
    return cleaned


def is_sender(value: str) -> bool:
    """Whether ``value`` can be a ``From``: an E.164 number or an alphanumeric sender id."""
    return is_e164(value) or bool(ALPHANUMERIC_SENDER.fullmatch(value or ""))
