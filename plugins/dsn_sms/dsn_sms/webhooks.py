"""The status-callback webhook: Twilio tells us whether each message reached the phone.

Point ``DSN["SMS"]["STATUS_CALLBACK_URL"]`` at this view's public URL
(``https://<site>/<dsn prefix>/sms/status/``); every message DSN sends then asks Twilio to
post its status changes there. Requests are authenticated by their ``X-Twilio-Signature``;
anything else gets 403.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator, get_signature_algorithm

from dsn_core.addresses import deactivate
from dsn_core.models import Delivery

from . import config
from .signals import status_received

logger = logging.getLogger("dsn_sms.webhooks")

#: Receipt statuses that mean the message did not reach the phone.
FAILED_STATUSES = frozenset({"undelivered", "failed"})
#: Receipt error codes after which the number should not be tried again.
DEAD_NUMBER_CODES = frozenset({21610, 30005, 30006})


def public_url(request: HttpRequest, cfg: config.SmsConfig) -> str:
    """The URL Twilio called: ``STATUS_CALLBACK_URL`` when set (proxies rewrite hosts), else the request's."""
    if cfg.status_callback_url:
        query = request.META.get("QUERY_STRING", "")
        base = cfg.status_callback_url
        return f"{base}?{query}" if query and "?" not in base else base
    return request.build_absolute_uri()


def is_signed(request: HttpRequest, cfg: config.SmsConfig) -> bool:
    """Whether the request carries a valid ``X-Twilio-Signature``."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    settings_header = request.headers.get("X-Twilio-Webhooks-Signature-Settings", "")
    key = cfg.webhook_signing_key if settings_header and cfg.webhook_signing_key else cfg.auth_token
    validator = RequestValidator(key)
    algorithm = get_signature_algorithm(settings_header)
    return validator.validate(public_url(request, cfg), request.POST, signature, algorithm)


def _code(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest) -> HttpResponse:
    """Record one status report from Twilio on the matching delivery."""
    try:
        cfg = config.load()
    except ImproperlyConfigured:
        logger.error("DSN SMS status callback received but DSN['SMS'] is not configured")
        return HttpResponse(status=503)
    if not is_signed(request, cfg):
        logger.warning("DSN SMS status callback with a missing or bad X-Twilio-Signature refused")
        return HttpResponseForbidden("bad signature")
    sid = request.POST.get("MessageSid") or request.POST.get("SmsSid") or ""
    status = (request.POST.get("MessageStatus") or request.POST.get("SmsStatus") or "").lower()
    code = _code(request.POST.get("ErrorCode", ""))
    delivery = Delivery.objects.filter(messenger="sms", provider_id=sid).first() if sid else None
    if delivery is not None and status in FAILED_STATUSES:
        error = f"Twilio receipt: {status}" + (f" (error {code})" if code else "")
        Delivery.objects.filter(pk=delivery.pk).update(last_error=error)
        delivery.last_error = error
        if code in DEAD_NUMBER_CODES and delivery.address:
            deactivate("sms", delivery.address)
    elif delivery is None and sid:
        logger.info("DSN SMS status %s for unknown message %s ignored", status, sid)
    status_received.send(
        sender=Delivery, delivery=delivery, message_sid=sid, status=status, error_code=code, payload=request.POST.dict()
    )
    return HttpResponse(status=204)
