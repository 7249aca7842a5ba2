"""The full-page inbox (``GET/POST inbox/``): works without JavaScript; the badge on it is live."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from . import reading

ACTIONS = {"read": reading.mark_read, "unread": reading.mark_unread, "archive": reading.archive}


@login_required
@require_http_methods(["GET", "POST"])
def inbox(request: HttpRequest) -> HttpResponse:
    """GET: a page of items (``?cursor=<id>``). POST ``action`` = read / unread / archive (with
    ``id``) or read_all (with ``up_to``), then back to the same page."""
    user_id = request.user.pk
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "read_all":
                reading.mark_all_read(user_id, reading.parse_cursor(request.POST.get("up_to")))
            elif action in ACTIONS:
                ACTIONS[action](user_id, [int(request.POST.get("id", ""))])
            else:
                error = "Unknown action."
        except ValueError:
            error = "That item id is not valid."
        if not error:
            return HttpResponseRedirect(request.get_full_path())
    try:
        cursor = reading.parse_cursor(request.GET.get("cursor"))
    except ValueError:
        cursor, error = None, "That page link is not valid; showing the newest items."
    page = reading.page(user_id, cursor=cursor)
    context = {
        "page": page,
        "unread": reading.unread_count(user_id),
        "newest": reading.latest_id(user_id),
        "error": error,
    }
    return render(request, "dsn_inbox/inbox.html", context, status=400 if error else 200)
