"""The ASGI application the inbox benchmark serves with uvicorn."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings_inbox")

from django.core.asgi import get_asgi_application

application = get_asgi_application()
