"""Views: the "Connect Telegram" page, and the webhook Telegram posts updates to."""

from __future__ import annotations

import json
import logging

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from dsn_core.api import addresses

from . import config, linking

logger = logging.getLogger("dsn_telegram.views")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@login_required
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest) -> HttpResponse:
    """GET: the deep link (a fresh payload each time) and the current link. POST: disconnect."""
    if request.method == "POST" and request.POST.get("action") == "disconnect":
        addresses.remove_address(request.user, linking.KEY)
    chat_id = addresses.get_address(request.user, linking.KEY)
    context: dict[str, object] = {"chat_id": chat_id, "bot_username": config.bot_username()}
    try:
        context["link"] = linking.deep_link(request.user)
    except ValueError as exc:
        context["error"] = str(exc)
    return render(request, "dsn_telegram/connect.html", context)


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
