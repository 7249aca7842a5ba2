"""The JSON API: session-authenticated, CSRF-protected writes, each user sees only their items.

=========================================  =====================================================
``GET  inbox/api/items/``                  a page: ``?cursor=<id>&unread=1&html=1&size=<n>``
``GET  inbox/api/unread/``                 ``{"unread": n, "version": v}``
``POST inbox/api/items/<id>/read/``        mark one read
``POST inbox/api/items/<id>/unread/``      mark one unread
``POST inbox/api/items/<id>/archive/``     archive (soft delete)
``POST inbox/api/read-all/``               mark all read (``up_to=<id>``); rate-limited
=========================================  =====================================================

Anonymous callers get 401, other users' item ids 404 (as if they did not exist), bad
cursors 400, too many mark-all calls 429 with ``Retry-After``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_POST

from . import conf, reading
from .models import InboxItem


def _json_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"error": "log in to read your inbox"}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


def _counts(request: HttpRequest, **extra: Any) -> JsonResponse:
    return JsonResponse({**extra, "unread": reading.unread_count(request.user.pk)})


@never_cache
@require_GET
@_json_login_required
def items(request: HttpRequest) -> HttpResponse:
    try:
        cursor = reading.parse_cursor(request.GET.get("cursor"))
        size = int(request.GET.get("size") or conf.get("PAGE_SIZE"))
    except ValueError:
        return JsonResponse({"error": "cursor and size must be positive integers"}, status=400)
    with_html = request.GET.get("html") == "1"
    result = reading.page(
        request.user.pk, cursor=cursor, size=size, unread_only=request.GET.get("unread") == "1", with_html=with_html
    )
    return JsonResponse(
        {
            "items": [reading.as_json(item, with_html=with_html) for item in result.items],
            "next": result.next_cursor,
            "unread": reading.unread_count(request.user.pk),
        }
    )


@never_cache
@require_GET
@_json_login_required
def unread(request: HttpRequest) -> HttpResponse:
    return _counts(request, version=reading.version(request.user.pk))


def _own_item(request: HttpRequest, pk: int) -> bool:
    user_id = request.user.pk
    return user_id is not None and InboxItem.objects.filter(pk=pk, user_id=user_id).exists()


def _change(action: Callable[[Any, list[int]], int]) -> Callable[..., HttpResponse]:
    @csrf_protect
    @require_POST
    @_json_login_required
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        changed = action(request.user.pk, [pk])
        if not changed and not _own_item(request, pk):
            return JsonResponse({"error": "no such item"}, status=404)
        return _counts(request, changed=changed)

    view.__name__ = action.__name__
    return view


mark_read = _change(reading.mark_read)
mark_unread = _change(reading.mark_unread)
archive = _change(reading.archive)


def _allowed(user_id: Any) -> tuple[bool, int]:
    """A fixed one-minute window per user in the site's default cache: (allowed, seconds left)."""
    window = int(time.time() // 60)
    key = f"dsn_inbox:read_all:{user_id}:{window}"
    cache.add(key, 0, timeout=70)
    try:
        used = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=70)
        used = 1
    return used <= int(conf.get("MARK_ALL_PER_MINUTE")), 60 - int(time.time()) % 60


@csrf_protect
@require_POST
@_json_login_required
def read_all(request: HttpRequest) -> HttpResponse:
    try:
        up_to = reading.parse_cursor(request.POST.get("up_to"))
    except ValueError:
        return JsonResponse({"error": "up_to must be a positive integer"}, status=400)
    allowed, retry_after = _allowed(request.user.pk)
    if not allowed:
        response = JsonResponse({"error": "too many mark-all-read requests; try again shortly"}, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    return _counts(request, changed=reading.mark_all_read(request.user.pk, up_to))
