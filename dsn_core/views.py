"""Public views: one-click unsubscribe (RFC 8058) and the preferences page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .models import OptOut, Subscription
from .plugins import registry
from .tokens import BadToken, consume_token, read_token
from .unsubscribe import MAX_AGE, PURPOSE

REASONS = {
    "forged": "This unsubscribe link is not valid.",
    "expired": "This unsubscribe link has expired.",
    "replayed": "This unsubscribe link was already used.",
}


def _parse(value: str) -> tuple[Any, str, Any]:
    user_id, messenger, subscription_id = value.split(".", 2)
    return user_id, messenger, subscription_id or None


def _opt_out(user_id: Any, messenger: str, subscription_id: Any) -> None:
    user = get_user_model()._default_manager.filter(pk=user_id).first()
    if user is None:
        return
    subscription = Subscription.objects.filter(pk=subscription_id).first() if subscription_id else None
    OptOut.objects.get_or_create(user=user, messenger=messenger, subscription=subscription)


@csrf_exempt  # RFC 8058: mail clients POST without a CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a confirmation page (changes nothing). POST: opt out, once."""
    try:
        if request.method == "POST":
            value = consume_token(PURPOSE, token, max_age=MAX_AGE)
        else:
            value = read_token(PURPOSE, token, max_age=MAX_AGE)
        user_id, messenger, subscription_id = _parse(value)
    except (BadToken, ValueError) as exc:
        reason = exc.reason if isinstance(exc, BadToken) else "forged"
        return render(request, "dsn_core/unsubscribe.html", {"error": REASONS[reason]}, status=400)
    if request.method == "POST":
        _opt_out(user_id, messenger, subscription_id)
        return render(request, "dsn_core/unsubscribe.html", {"done": True, "messenger": messenger})
    return render(request, "dsn_core/unsubscribe.html", {"confirm": True, "messenger": messenger, "token": token})


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """Let a logged-in user turn each messenger on or off for themselves."""
    messengers = sorted(registry().messengers.items())
    user = request.user
    assert user.is_authenticated  # login_required
    if request.method == "POST":
        wanted_off = set(request.POST.getlist("off"))
        for key, _ in messengers:
            if key in wanted_off:
                OptOut.objects.get_or_create(user=user, messenger=key, subscription=None)
            else:
                OptOut.objects.filter(user=user, messenger=key, subscription=None).delete()
    off = set(
        OptOut.objects.filter(user=user, subscription=None).values_list("messenger", flat=True)
    )
    rows = [{"key": key, "label": cls.label, "off": key in off} for key, cls in messengers]
    return render(request, "dsn_core/preferences.html", {"rows": rows, "saved": request.method == "POST"})
