"""Settings for DSN's own test suite. ``DSN_TEST_DB=postgres`` runs it on PostgreSQL."""

import os

import django

SECRET_KEY = "dsn-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
STATIC_URL = "static/"  # the browser tests' live server serves the admin's and DSN's static files
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "dsn_core",
    "tests.testapp",
]
try:  # the backport needs its app on Django 5.2
    import django.tasks
except ImportError:
    INSTALLED_APPS.insert(-3, "django_tasks")

# Channel plugins that ship a Django app (views, templates, commands) join when installed.
from importlib.util import find_spec  # noqa: E402

for _plugin_app in ("dsn_email", "dsn_telegram", "dsn_sms", "dsn_twitter", "dsn_inbox"):
    if find_spec(_plugin_app) and find_spec(f"{_plugin_app}.apps"):
        INSTALLED_APPS.append(_plugin_app)
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

if os.environ.get("DSN_TEST_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("DSN_PG_NAME", "dsn"),
            "USER": os.environ.get("DSN_PG_USER", "postgres"),
            "HOST": os.environ.get("DSN_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DSN_PG_PORT", "5432"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("DSN_SQLITE_NAME", ":memory:"),
            "TEST": {"NAME": os.environ.get("DSN_SQLITE_TEST_NAME") or None},
        }
    }
    if os.environ.get("DSN_SQLITE_NAME"):
        # A file that several processes write (the reload and delivery tests): wait for the lock
        # instead of failing, and take the write lock at BEGIN so a transaction that reads before
        # it writes never fails with "database is locked" upgrading its read lock. WAL lets
        # readers run while one process writes. The same options docs/deployment.md recommends.
        DATABASES["default"]["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }

TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
try:
    import django.tasks

    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
except ImportError:
    pass

DSN = {"AUTO_RELOAD": bool(os.environ.get("DSN_TEST_AUTO_RELOAD")), "BASE_URL": "https://example.test"}
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if django.VERSION >= (6, 1):  # MAILERS replaces EMAIL_BACKEND and the other EMAIL_* settings
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
