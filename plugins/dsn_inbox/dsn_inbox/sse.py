"""The server-sent events stream: ``GET inbox/stream/`` (an async view; needs an ASGI server).

Events, each ``data:`` a JSON object:

``count``  ``{"unread": n}`` on connect and whenever the count changes;
``item``   a new item (the API's item representation), with its id as the SSE ``id:``, so a
           reconnecting browser sends ``Last-Event-ID`` and gets what it missed.

A comment line every ``HEARTBEAT`` seconds keeps proxies from closing an idle stream. Under a
WSGI server (plain ``runserver``, gunicorn's sync workers) a stream would hold a worker thread
for ever, so the view answers 503 there, and the script falls back to polling the API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from . import conf, reading
from .hub import hub, run_db


def _event(name: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _state(user_id: Any, after: int | None) -> tuple[int, int, list[dict[str, Any]]]:
    """(unread count, newest item id, items newer than ``after``) — two or three indexed queries."""
    count = reading.unread_count(user_id)
    if after is None:
        return count, reading.latest_id(user_id), []
    new = reading.since(user_id, after)
    return count, (new[-1].pk if new else after), [reading.as_json(item) for item in new]


def _user_id(request: HttpRequest) -> Any:
    """The logged-in user's pk or ``None`` (loads the session and the user: database work)."""
    user = request.user
    return user.pk if user.is_authenticated else None


async def _events(user_id: int, after: int | None) -> AsyncIterator[str]:
    the_hub = hub()
    changed = the_hub.subscribe(user_id)
    heartbeat = float(conf.get("HEARTBEAT"))
    try:
        yield "retry: 2000\n\n"
        count, last, new = await run_db(_state, user_id, after)
        for item in new:
            yield _event("item", item, item["id"])
        yield _event("count", {"unread": count})
        sent = count
        while True:
            try:
                await asyncio.wait_for(changed.wait(), timeout=heartbeat)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            changed.clear()
            count, last, new = await run_db(_state, user_id, last)
            for item in new:
                yield _event("item", item, item["id"])
            if count != sent or new:
                yield _event("count", {"unread": count})
                sent = count
    finally:
        the_hub.unsubscribe(user_id, changed)


async def stream(request: HttpRequest) -> HttpResponseBase:
    """The live stream of the logged-in user's unread count and new items."""
    if not isinstance(request, ASGIRequest):
        user = await request.auser()
        if not user.is_authenticated:
            return HttpResponse("log in to read your inbox", status=401, content_type="text/plain")
        return HttpResponse(
            "live updates need an ASGI server; poll inbox/api/unread/", status=503, content_type="text/plain"
        )
    user_id = await run_db(_user_id, request)
    if user_id is None:
        return HttpResponse("log in to read your inbox", status=401, content_type="text/plain")
    try:
        after = reading.parse_cursor(request.headers.get("Last-Event-ID"))
    except ValueError:
        after = None
    response = StreamingHttpResponse(_events(user_id, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through at once
    return response
