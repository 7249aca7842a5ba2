"""A local SMTP sink (aiosmtpd) for the SMTP benchmark: ``python -m benchmarks.smtp_server PORT``.

It runs in its own process so the server does not share the client's GIL, counts the
messages it accepted, and prints the count when terminated.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from aiosmtpd.controller import Controller


class Counter:
    """Accepts every message and counts it."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def main(port: int) -> None:
    handler = Counter()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    print(handler.count, flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
