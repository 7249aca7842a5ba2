"""Fixtures for dsn-inbox: users, and a flow that sends every saved Article to their inboxes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def ann(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("ann", "ann@example.com", "pw")


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", "bob@example.com", "pw")


@pytest.fixture
def inbox_flow(make_flow: Any, ann: Any, bob: Any) -> Callable[..., Any]:
    """``inbox_flow(**options)``: saving an Article puts an item in ann's and bob's inboxes."""
    from tests.testapp.models import Article

    def make(users: Any = None, **options: Any) -> Any:
        return make_flow(
            Article,
            messenger="inbox",
            users=users if users is not None else [ann, bob],
            subject="New: {{ instance.title }}",
            text="{{ instance.title }} was saved",
            options=options,
        )

    return make
