"""The demo's ASGI application, served by uvicorn (``python dev.py demo``).

ASGI, not ``runserver``'s WSGI, so that the inbox's live stream (server-sent events) stays
open and the badge counts up without a reload. Static files (the admin's CSS and scripts,
``inbox.js``) are served by Django's own handler for them, as ``runserver`` does, while DEBUG is on.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

application = get_asgi_application()
if settings.DEBUG:  # a real site serves static files from its web server or CDN instead
    application = ASGIStaticFilesHandler(application)
