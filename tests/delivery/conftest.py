"""Fixtures for the delivery tests: the fake provider and skip-with-a-reason helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import Provider, port_open


@pytest.fixture
def provider() -> Iterator[Provider]:
    with Provider() as p:
        yield p


@pytest.fixture
def need_redis() -> None:
    if not port_open(6379):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (needed for the RQ scale-out test)")


@pytest.fixture
def need_postgres() -> None:
    if not port_open(5432):
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (user postgres, trust auth)")
    try:
        import psycopg

        psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=3).close()
    except Exception as exc:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 refused user postgres: {exc}")
