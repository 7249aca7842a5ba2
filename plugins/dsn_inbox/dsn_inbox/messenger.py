"""The ``inbox`` messenger: each delivery becomes an item in its recipient's inbox.

The recipient is the address (no address book entry needed). One batch is one bulk insert;
the unique constraint on the delivery makes a retried batch a no-op for the rows that were
already stored, so an item is never created twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from dsn_core.api import (
    Message,
    Messenger,
    Option,
    Outcome,
    PermanentError,
    SendResult,
    TemplateError,
    base_context,
    dsn_settings,
    events_for,
    get_engine,
)

from .levels import Level

logger = logging.getLogger("dsn_inbox.messenger")
SAFE_LINK_PREFIXES = ("/", "https://", "http://")


@lru_cache(maxsize=128)
def _link_template(source: str) -> Any:
    engine = get_engine("django")
    if engine is None:
        raise TemplateError("the django template engine is not installed")
    return engine.compile(source)


def safe_link(link: Any) -> str:
    """``link`` if it is a site path or an http(s) URL, else ``""`` (never ``javascript:``)."""
    link = str(link or "").strip()
    return link[:500] if link.startswith(SAFE_LINK_PREFIXES) else ""


class InboxMessenger(Messenger):
    """Stores messages as :class:`~dsn_inbox.models.InboxItem` rows for their recipients."""

    key = "inbox"
    label = "In-site inbox"
    #: The address is the user's primary key: fan-out loads no other user field.
    user_fields = ()
    options = (
        Option(
            "level",
            "info, success, warning or error (how the item is styled)",
            default=Level.INFO,
            choices=tuple(Level.values),
        ),
        Option("category", 'a free label to filter by ("orders", "security")'),
        Option(
            "link",
            "a template for the item's link, e.g. /orders/{{ instance.pk }}/ (default: the "
            "event's url value, else the action object's get_absolute_url())",
        ),
    )
    max_batch_size = 500
    #: One item per delivery (a unique constraint; the insert ignores conflicts): a batch sent again
    #: after a crash adds nothing, so the core may hand over whole batches.
    deduplicates = True
    supports_fixed_addresses = False

    @classmethod
    def clean_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        cleaned = super().clean_options(options)
        if cleaned.get("link"):
            try:
                _link_template(cleaned["link"])
            except TemplateError as exc:
                raise ValidationError(f"Option 'link' is not a valid template: {exc}") from exc
        return cleaned

    @classmethod
    def check(cls) -> list[Any]:
        from importlib.util import find_spec

        from django.apps import apps
        from django.core import checks

        from .conf import DEFAULTS

        found: list[Any] = []
        if not apps.is_installed("dsn_inbox"):
            found.append(
                checks.Error(
                    "DSN inbox: add 'dsn_inbox' to INSTALLED_APPS (it has models, views and templates).",
                    id="dsn_inbox.E001",
                )
            )
        section = dsn_settings().get("INBOX") or {}
        unknown = sorted(set(section) - set(DEFAULTS))
        if unknown:
            found.append(
                checks.Warning(
                    f"Unknown DSN['INBOX'] setting(s): {', '.join(unknown)}; known: {', '.join(sorted(DEFAULTS))}.",
                    id="dsn_inbox.W001",
                )
            )
        url = section.get("REDIS_URL") or ""
        if url and not str(url).startswith(("redis://", "rediss://", "unix://")):
            found.append(
                checks.Error(
                    "DSN['INBOX']['REDIS_URL'] must start with redis://, rediss:// or unix://.", id="dsn_inbox.E002"
                )
            )
        elif url and find_spec("redis") is None:
            found.append(
                checks.Error(
                    "DSN['INBOX']['REDIS_URL'] is set but redis-py is not installed: pip install 'dsn-inbox[redis]'.",
                    id="dsn_inbox.E003",
                )
            )
        return found

    @classmethod
    def clean_address(cls, address: str) -> str:
        raise ValidationError("The inbox sends to users only; it has no fixed addresses.")

    def address_for(self, user: Any) -> str | None:
        return str(user.pk)

    def addresses_for(self, users: Any) -> dict[Any, str]:
        return {user.pk: str(user.pk) for user in users}

    def links(self, messages: Sequence[Message]) -> dict[int, str]:
        """The link of each notification in the batch: ``{notification id: link}``."""
        ids = {m.metadata.get("notification") for m in messages} - {None}
        if not ids:
            return {}
        source = self.option_values.get("link") or ""
        out: dict[int, str] = {}
        for pk, event in events_for(ids).items():
            try:
                if source:
                    engine = _link_template(source)
                    link = _render_link(engine, base_context(event))
                elif event.kwargs.get("url"):
                    link = event.kwargs["url"]
                else:
                    get_url = getattr(event.action_object, "get_absolute_url", None)
                    link = get_url() if callable(get_url) else ""
            except Exception:
                logger.warning("DSN inbox: no link for notification %s", pk, exc_info=True)
                link = ""
            out[pk] = safe_link(link)
        return out

    def send_batch(self, messages: Sequence[Message]) -> list[Outcome]:
        from .live import announce
        from .models import InboxItem

        links = self.links(messages)
        level, category = self.option_values.get("level", Level.INFO), self.option_values.get("category") or ""
        items: list[Any] = []
        outcomes: list[Outcome | None] = []
        for message in messages:
            if message.recipient is None:
                outcomes.append(PermanentError("the inbox delivers to users only, not to fixed addresses"))
                continue
            notification = message.notification_id
            items.append(
                InboxItem(
                    user_id=message.recipient.pk,
                    subject=message.subject[:255],
                    text=message.text,
                    html=message.html,
                    link=links.get(notification, "") if notification is not None else "",
                    level=level,
                    category=category[:100],
                    verb=str(message.metadata.get("verb", ""))[:100],
                    notification_id=notification,
                    delivery_id=message.delivery_id,
                )
            )
            outcomes.append(None)
        if items:
            with transaction.atomic():
                InboxItem.objects.bulk_create(items, ignore_conflicts=True)
                announce(item.user_id for item in items)
        ids = dict(
            InboxItem.objects.filter(
                delivery_id__in=[i.delivery_id for i in items if i.delivery_id is not None]
            ).values_list("delivery_id", "pk")
        )
        results: list[Outcome] = []
        for message, outcome in zip(messages, outcomes, strict=True):
            if outcome is None:
                pk = ids.get(message.delivery_id) if message.delivery_id is not None else None
                outcome = SendResult(provider_id=f"inbox-{pk}" if pk else "")
            results.append(outcome)
        return results


def _render_link(compiled: Any, context: dict[str, Any]) -> str:
    engine = get_engine("django")
    assert engine is not None
    return engine.render(compiled, context).strip()
