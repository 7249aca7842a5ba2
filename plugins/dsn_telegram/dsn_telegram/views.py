"""The "Connect Telegram" page: a logged-in user links (or unlinks) their Telegram chat."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from dsn_core.api import addresses

from . import config, linking


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
