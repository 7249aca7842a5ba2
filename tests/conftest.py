"""Shared fixtures for DSN's tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def admin_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")


@pytest.fixture
def make_flow(db: Any) -> Any:
    """Create a trigger + template + backend + subscription in one call."""
    from django.contrib.contenttypes.models import ContentType

    from dsn_core.models import Backend, MessageTemplate, Subscription, Trigger

    def make(model: Any = None, *, verb: str = "post_save", messenger: str = "locmem", users: Any = (),
             text: str = "{{ verb }}: {{ instance }}", subject: str = "Hi {{ recipient }}", conditions: Any = None,
             dynamic: Any = None, fixed: Any = None, options: Any = None, **trigger_kwargs: Any) -> Subscription:
        ct = ContentType.objects.get_for_model(model) if model is not None else None
        trigger = Trigger.objects.create(name=f"t-{verb}", verb=verb, action_object_type=ct,
                                         conditions=conditions or [], **trigger_kwargs)
        template = MessageTemplate.objects.create(name="tpl", subject=subject, text=text)
        backend = Backend.objects.create(name=f"b-{messenger}", messenger=messenger, template=template,
                                         options=options or {})
        sub = Subscription.objects.create(trigger=trigger, dynamic_receivers=dynamic or [],
                                          fixed_addresses=fixed or {})
        sub.backends.add(backend)
        if users:
            sub.receiver_users.add(*users)
        return sub

    return make
