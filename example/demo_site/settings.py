"""Settings of the DSN example site (SQLite, the database task backend, console email)."""

import os
from importlib.util import find_spec
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "dsn-example-site-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = os.environ.get("DSN_DEMO_TIME_ZONE", "Europe/Berlin")  # the admin shows times in this zone
ROOT_URLCONF = "demo_site.urls"
ASGI_APPLICATION = "demo_site.asgi.application"  # served by uvicorn: the inbox badge updates live
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
    "shop",
]
if not find_spec("django.tasks"):
    INSTALLED_APPS.insert(INSTALLED_APPS.index("django_tasks_db"), "django_tasks")
for plugin_app in ("dsn_telegram", "dsn_sms", "dsn_twitter", "dsn_inbox"):
    if find_spec(plugin_app) and find_spec(f"{plugin_app}.apps"):
        INSTALLED_APPS.append(plugin_app)

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "demo_site" / "templates"],  # admin/base_site.html: the inbox badge
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
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DSN_DEMO_DB") or BASE_DIR / "db.sqlite3",  # the browser test uses its own
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
    }
}
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
STATIC_URL = "static/"
if django.VERSION >= (6, 1):  # MAILERS replaces EMAIL_BACKEND and the other EMAIL_* settings
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "shop@example.com"

# The demo installs every channel but configures only Console and Email (printed to the console
# by EMAIL_BACKEND above): `manage.py check` and the admin's channel dropdown say which others
# are not configured (dsn.W002), as they would on a real site.
DSN = {
    # dev.py demo passes the port it serves on, so unsubscribe links point at this server.
    "BASE_URL": f"http://127.0.0.1:{os.environ.get('DSN_DEMO_PORT', '8000')}",
    "RETRY_BASE": 2.0,
    "EMAIL": {"FROM": "Demo shop <shop@example.com>"},
}
# The preferences page (linked from unsubscribe pages) needs a login page for non-staff people.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dsn/preferences/"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"dsn_core": {"handlers": ["console"], "level": "WARNING"}},
}
