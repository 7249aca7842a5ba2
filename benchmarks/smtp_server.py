"""A local SMTP sink (aiosmtpd) for the SMTP benchmark.

``python -m benchmarks.smtp_server PORT [CERT KEY]`` runs it in its own process (so the
server does not share the client's GIL); with a certificate and key it requires STARTTLS
and AUTH, like a real submission server. It counts accepted messages and prints the count
when terminated.
"""

from __future__ import annotations

import signal
import ssl
import sys
import threading
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Counter:
    """Accepts every message and counts it."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def accept_any_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=True)


def main(port: int, cert: str = "", key: str = "") -> None:
    handler = Counter()
    options: dict[str, Any] = {}
    if cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options = {
            "tls_context": context,
            "require_starttls": True,
            "authenticator": accept_any_login,
            "auth_require_tls": True,
        }
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="localhost", **options)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    print(handler.count, flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), *sys.argv[2:4])
