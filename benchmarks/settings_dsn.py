"""DSN installed the way a site runs it: the database task backend, no reload thread.

``BENCH_TASK_BACKEND=dummy`` switches DSN's tasks to django-tasks' dummy backend, to show
what the enqueue itself costs on the hot path.
"""

import os

from benchmarks.settings_base import *  # noqa: F403
from benchmarks.settings_base import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks", "django_tasks_db", "dsn_core"]
try:  # Django 6 has django.tasks; the backport app is only needed on 5.2
    import django.tasks  # noqa: F401

    INSTALLED_APPS.remove("django_tasks")
    _TASKS_PKG = "django.tasks"
except ImportError:
    _TASKS_PKG = "django_tasks"

TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend"},
    "dummy": {"BACKEND": f"{_TASKS_PKG}.backends.dummy.DummyBackend"},
}
DSN = {
    "AUTO_RELOAD": False,
    "BASE_URL": "https://bench.example",
    "TASK_BACKEND": os.environ.get("BENCH_TASK_BACKEND", "default"),
}
