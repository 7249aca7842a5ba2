"""Building a PTB ``Bot`` and running its coroutines from synchronous code.

PTB is asyncio-based and a ``Bot`` (with its ``HTTPXRequest``) belongs to the event loop
it first ran in. So every synchronous entry point (one ``send_batch``, one polling round)
builds a fresh bot inside :func:`run` and shuts it down before the loop closes. The bot is
never ``initialize()``-d: that would call ``getMe`` on every batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

from . import config, logfilter

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.request import HTTPXRequest

T = TypeVar("T")
logfilter.install()


def _request(read_timeout: float) -> HTTPXRequest:
    from telegram.request import HTTPXRequest  # imported here: only workers need PTB and httpx

    limit = config.timeout()
    return HTTPXRequest(
        connection_pool_size=8,
        connect_timeout=limit,
        read_timeout=read_timeout,
        write_timeout=limit,
        pool_timeout=limit,
    )


@asynccontextmanager
async def open_bot() -> AsyncIterator[Bot]:
    """A bot pointed at ``DSN["TELEGRAM"]["API_BASE_URL"]``, closed on exit.

    Must be entered inside the event loop that will use it.
    """
    from telegram import Bot

    limit = config.timeout()
    request, updates_request = _request(limit), _request(limit)
    bot = Bot(
        config.bot_token(),
        base_url=config.api_base_url(),
        request=request,
        get_updates_request=updates_request,
    )
    await asyncio.gather(request.initialize(), updates_request.initialize())
    try:
        yield bot
    finally:
        await asyncio.gather(request.shutdown(), updates_request.shutdown(), return_exceptions=True)


def run(work: Callable[[Bot], Awaitable[T]]) -> T:
    """Run ``work(bot)`` to completion in a new event loop with a new bot; return its result.

    Called from a thread that already runs an event loop (an async view calling
    synchronous code), the loop runs in a helper thread instead.
    """

    async def main() -> T:
        async with open_bot() as bot:
            return await work(bot)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


class Session:
    """One event loop and one bot kept open across several batches (``Messenger.open()``).

    PTB binds a bot and its HTTP client to one event loop; a session owns both, so a worker
    sending many batches pays the client's set-up once instead of once per batch.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._bot_cm = open_bot()
        try:
            self.bot: Bot = self.loop.run_until_complete(self._bot_cm.__aenter__())
        except BaseException:
            self.loop.close()
            raise

    def run(self, work: Callable[[Bot], Awaitable[T]]) -> T:
        """Run ``work(bot)`` in this session's loop."""
        return self.loop.run_until_complete(work(self.bot))

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self._bot_cm.__aexit__(None, None, None))
        finally:
            self.loop.close()
