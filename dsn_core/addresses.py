"""The address book API: where channel plugins keep a user's chat id, phone number ...

Plugins call these functions instead of defining models of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .models import Address


def get_address(user: Any, messenger: str) -> str | None:
    """The user's active address on ``messenger``, or ``None``."""
    if user is None or user.pk is None:
        return None
    return (
        Address.objects.filter(user_id=user.pk, messenger=messenger, active=True)
        .values_list("address", flat=True)
        .first()
    )


def get_addresses(user_ids: Iterable[Any], messenger: str) -> dict[Any, str]:
    """``{user_id: address}`` for the users that have an active address on ``messenger``."""
    ids = list(user_ids)
    if not ids:
        return {}
    rows = Address.objects.filter(user_id__in=ids, messenger=messenger, active=True).values_list("user_id", "address")
    return dict(rows)


def set_address(user: Any, messenger: str, address: str, *, verified: bool = True) -> Address:
    """Store (or replace) the user's address on ``messenger``, active."""
    entry, _ = Address.objects.update_or_create(
        user=user, messenger=messenger, defaults={"address": address, "verified": verified, "active": True}
    )
    return entry


def remove_address(user: Any, messenger: str) -> bool:
    """Forget the user's address on ``messenger``; return whether there was one."""
    deleted, _ = Address.objects.filter(user=user, messenger=messenger).delete()
    return bool(deleted)


def deactivate(messenger: str, address: str) -> int:
    """Mark every entry with this address inactive (the channel refused it); return count."""
    return Address.objects.filter(messenger=messenger, address=address).update(active=False)


def replace(messenger: str, old: str, new: str) -> int:
    """Change an address everywhere it is used (a Telegram group that migrated)."""
    return Address.objects.filter(messenger=messenger, address=old).update(address=new)


def find_user(messenger: str, address: str) -> Any | None:
    """The user whose address on ``messenger`` is ``address`` (webhooks use this)."""
    entry = Address.objects.filter(messenger=messenger, address=address).select_related("user").first()
    return entry.user if entry else None
