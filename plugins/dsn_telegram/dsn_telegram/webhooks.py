"""The webhook Telegram posts updates to (``/start <payload>`` links a chat; ``/stop`` unlinks it)."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import config, linking

logger = logging.getLogger("dsn_telegram.webhooks")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@csrf_exempt  # Telegram cannot send a CSRF token; the secret header is the proof
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    """Receive one update from Telegram.

    The ``X-Telegram-Bot-Api-Secret-Token`` header must equal ``DSN["TELEGRAM"]["WEBHOOK_SECRET"]``
    (the webhook answers 404 while no secret is configured). A reply goes back in the
    response body as a ``sendMessage`` call, which the Bot API performs for us.
    """
    secret = config.webhook_secret()
    if not secret:
        return HttpResponse(status=404)
    given = request.headers.get(SECRET_HEADER, "")
    if not constant_time_compare(given, secret):
        logger.warning("DSN Telegram: webhook call with a wrong secret token from %s", request.META.get("REMOTE_ADDR"))
        return HttpResponse("wrong secret token", status=403, content_type="text/plain")
    try:
        update = json.loads(request.body)
    except ValueError:
        return HttpResponse("not JSON", status=400, content_type="text/plain")
    reply = linking.handle_update(update) if isinstance(update, dict) else None
    if reply is None:
        return JsonResponse({})
    return JsonResponse({"method": "sendMessage", "chat_id": reply.chat_id, "text": reply.text})
