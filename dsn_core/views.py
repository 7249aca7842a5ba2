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
from .plugins import get_messenger_class, registry
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


def _channel_label(key: str) -> str:
    cls = get_messenger_class(key)
    return str(cls.label) if cls is not None else key


def _about(messenger: str, subscription_id: Any) -> dict[str, Any]:
    subscription = (
        Subscription.objects.filter(pk=subscription_id).select_related("trigger").first() if subscription_id else None
    )
    return {"messenger": _channel_label(messenger), "subscription": subscription}


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
    about = _about(messenger, subscription_id)
    if request.method == "POST":
        _opt_out(user_id, messenger, subscription_id)
        return render(request, "dsn_core/unsubscribe.html", {"done": True, **about})
    return render(request, "dsn_core/unsubscribe.html", {"confirm": True, "token": token, **about})


def receivable_channels() -> list[tuple[str, str]]:
    """``(key, label)`` of the channels a person can receive on (not the internal ones), by label."""
    pairs = [(k, str(c.label)) for k, c in registry().messengers.items() if not getattr(c, "internal", False)]
    return sorted(pairs, key=lambda kv: kv[1].lower())


@login_required  # redirects to settings.LOGIN_URL
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """A logged-in person's notification settings: each channel on or off, and the opt-outs
    they made through unsubscribe links (per subscription), which they can undo here."""
    channels = receivable_channels()
    user = request.user
    assert user.is_authenticated  # login_required
    mine = OptOut.objects.filter(user=user)
    if request.method == "POST":
        wanted_off = set(request.POST.getlist("off"))
        for key, _label in channels:
            if key in wanted_off:
                OptOut.objects.get_or_create(user=user, messenger=key, subscription=None)
            else:
                mine.filter(messenger=key, subscription=None).delete()
        keep = {int(pk) for pk in request.POST.getlist("keep") if pk.isdigit()}
        mine.filter(subscription__isnull=False).exclude(pk__in=keep).delete()
    off = set(mine.filter(subscription=None).values_list("messenger", flat=True))
    rows = [{"key": key, "label": label, "off": key in off} for key, label in channels]
    specific = [
        {"id": o.pk, "subscription": o.subscription, "channel": _channel_label(o.messenger) if o.messenger else ""}
        for o in mine.filter(subscription__isnull=False).select_related("subscription__trigger").order_by("pk")
    ]
    return render(
        request, "dsn_core/preferences.html", {"rows": rows, "specific": specific, "saved": request.method == "POST"}
    )
