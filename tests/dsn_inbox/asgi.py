"""The ASGI application the SSE and browser tests serve with uvicorn (static files included)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.dsn_inbox.settings")

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

application = ASGIStaticFilesHandler(get_asgi_application())
