"""Settings shared by every benchmark scenario.

The database comes from the environment the runner sets: ``BENCH_DB=sqlite`` (a file in a
temporary directory, ``BENCH_DB_NAME`` is its path) or ``BENCH_DB=postgres`` (a database of
its own on 127.0.0.1:5432, ``BENCH_DB_NAME`` is its name).
"""

import os

SECRET_KEY = "dsn-benchmarks-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "benchmarks.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "benchmarks.benchapp",
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING_CONFIG = None

if os.environ.get("BENCH_DB", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("BENCH_DB_NAME", "dsn_bench"),
            "USER": os.environ.get("BENCH_PG_USER", "postgres"),
            "HOST": os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BENCH_PG_PORT", "5432"),
        }
    }
    if os.environ.get("BENCH_PG_KEEP_CONNECTIONS"):
        # What docs/deployment.md recommends for worker processes: db_worker's
        # close_old_connections() around each task then keeps the connection open.
        DATABASES["default"].update(CONN_MAX_AGE=600, CONN_HEALTH_CHECKS=True)
    if os.environ.get("BENCH_PG_ASYNC_COMMIT"):
        # What docs/deployment.md offers worker processes: a commit stops waiting for the WAL flush.
        DATABASES["default"]["OPTIONS"] = {"options": "-c synchronous_commit=off"}
else:
    # A file, not :memory:, because that is what sites run. Django's defaults otherwise.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("BENCH_DB_NAME", "/tmp/dsn-bench.sqlite3"),
        }
    }
    if os.environ.get("BENCH_SQLITE_WAL"):
        # What docs/deployment.md recommends for several workers on one SQLite file (Django 5.1+):
        # readers never block the writer, and a transaction takes the write lock when it begins.
        DATABASES["default"]["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
