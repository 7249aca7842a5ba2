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

from dsn_core.api import Delivery, Receipt, find_delivery, record_receipt

from . import config
from .signals import status_received

logger = logging.getLogger("dsn_sms.webhooks")

#: Twilio's final message statuses, as DSN receipts (the others, queued/sending/sent, are steps).
RECEIPTS = {"delivered": Receipt.DELIVERED, "undelivered": Receipt.UNDELIVERED, "failed": Receipt.UNDELIVERED}
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
    # Imported here, not at module level: loading the URLconf must not load the twilio SDK.
    from twilio.request_validator import RequestValidator, get_signature_algorithm

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
    """Record one status report from Twilio on the matching delivery (a DSN receipt)."""
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
    delivery = None
    if sid and status in RECEIPTS:
        detail = f"Twilio {status}" + (f", error {code}" if code else "")
        delivery = record_receipt(
            "sms", RECEIPTS[status], provider_id=sid, detail=detail, deactivate_address=code in DEAD_NUMBER_CODES
        )
    elif sid:
        delivery = find_delivery("sms", provider_id=sid)  # queued, sending, sent ...: not an outcome yet
    status_received.send(
        sender=Delivery, delivery=delivery, message_sid=sid, status=status, error_code=code, payload=request.POST.dict()
    )
    return HttpResponse(status=204)
