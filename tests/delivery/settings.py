"""Settings for worker processes in the delivery tests (``tests.settings`` plus a real queue).

Environment:

``DSN_TEST_TASKS``  ``db`` (django-tasks-db, default) or ``rq`` (django-tasks-rq on Redis).
``DSN_RQ_QUEUE``    the RQ queue name (unique per test run, so runs never share a queue).
``DSN_SQLITE_OPTIONS=plain``  Django's default SQLite options instead of the recommended ones.
``DSN_SQLITE_NAME`` / ``DSN_TEST_DB=postgres`` + ``DSN_PG_NAME``: the database (see tests.settings,
which also sets the multi-process SQLite options).
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, DSN, INSTALLED_APPS

if os.environ.get("DSN_SQLITE_OPTIONS") == "plain":
    # Django's SQLite defaults (5 s lock timeout, deferred transactions, rollback journal): the
    # worst case for several writers, which must still finish every delivery.
    DATABASES["default"].pop("OPTIONS", None)

INSTALLED_APPS = [*INSTALLED_APPS, "tests.delivery.httpapp"]

if os.environ.get("DSN_TEST_TASKS") == "rq":
    INSTALLED_APPS.append("django_rq")
    _queue = os.environ.get("DSN_RQ_QUEUE", "dsn-delivery")
    _redis = {"HOST": "127.0.0.1", "PORT": 6379, "DB": int(os.environ.get("DSN_RQ_DB", "0"))}
    RQ_QUEUES = {_queue: _redis, "default": _redis}
    # "default" must be a valid queue too: dsn_core.tasks declares its tasks with @task(), whose
    # queue is "default", and the RQ backend validates that at import (DSN["QUEUE"] is used to enqueue).
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [_queue, "default"]}}
    _dsn_queue = _queue
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    _dsn_queue = "default"

DSN = {
    **DSN,
    "AUTO_RELOAD": False,
    "QUEUE": _dsn_queue,
    # Short lease so a killed worker's deliveries come back within seconds.
    "LEASE_SECONDS": float(os.environ.get("DSN_LEASE_SECONDS", "2")),
    # Fast retries for 5xx answers (429s still wait their Retry-After).
    "RETRY_BASE": float(os.environ.get("DSN_RETRY_BASE", "0.2")),
    "RETRY_CAP": 2.0,
    # A short deadline per provider call, so abandoned task rows are closed within seconds.
    "SEND_TIMEOUT": float(os.environ.get("DSN_SEND_TIMEOUT", "5")),
    # "0": the fan-out leaves every delivery to send tasks (tests that need several workers sending).
    "SEND_FROM_FANOUT": os.environ.get("DSN_SEND_FROM_FANOUT", "1") == "1",
}
