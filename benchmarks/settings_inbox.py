"""Settings of the dsn-inbox benchmark (``python -m benchmarks.inbox``): DSN with the inbox
plugin, sessions for the SSE connections, and the immediate task backend, so one
``Item.objects.create()`` runs the whole path (fan-out, insert, notify) before it returns."""

from benchmarks.settings_base import *  # noqa: F403
from benchmarks.settings_base import INSTALLED_APPS

INSTALLED_APPS = [
    *INSTALLED_APPS,
    "django.contrib.sessions",
    "django_tasks",
    "django_tasks_db",
    "dsn_core",
    "dsn_inbox",
]
try:  # Django 6 has django.tasks; the backport app is only needed on 5.2
    import django.tasks  # noqa: F401

    INSTALLED_APPS.remove("django_tasks")
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
except ImportError:
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DSN = {"AUTO_RELOAD": False, "BASE_URL": "https://bench.example", "INBOX": {"HEARTBEAT": 15.0}}
