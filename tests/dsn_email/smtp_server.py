"""A programmable SMTP server on 127.0.0.1 (aiosmtpd), for the email channel's tests.

It records every accepted message (parsed) and every SMTP session; replies to RCPT TO and
DATA can be programmed per recipient, and ``drop_on`` makes the server hang up mid-session.
"""

from __future__ import annotations

import asyncio
import email
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.fakes import free_port


@dataclass
class Received:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    session: int  # index into FakeSMTP.sessions

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content().replace("\r\n", "\n") if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content().replace("\r\n", "\n") if part is not None else ""


@dataclass
class FakeSMTP:
    """``with FakeSMTP() as smtp: ...`` — ``smtp.port``, ``smtp.received``, ``smtp.sessions``."""

    credentials: tuple[str, str] | None = None
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    sessions: list[Any] = field(default_factory=list)
    #: ``{recipient: "550 5.1.1 No such user"}``: reply to RCPT TO instead of 250.
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    #: Recipients at whose RCPT TO the server closes the connection without a reply.
    drop_on: set[str] = field(default_factory=set)
    #: Reply to every RCPT TO not in ``rcpt_replies`` (e.g. ``"550 5.1.1 No such user"``) instead of 250.
    rcpt_reply: str = ""
    #: Reply to DATA instead of accepting the message (e.g. ``"451 4.3.0 Try again later"``).
    data_reply: str = ""
    #: Refuse every AUTH, whatever the credentials.
    refuse_auth: bool = False
    #: Seconds to wait before answering RCPT TO (a server that stalls).
    stall: float = 0.0
    auth_failures: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        kwargs: dict[str, Any] = {}
        if self.credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.credentials
        ok = ok and not self.refuse_auth
        if not ok:
            self.auth_failures += 1
        return AuthResult(success=ok, handled=False)

    def session_index(self, session: Any) -> int:
        with self.lock:
            for i, known in enumerate(self.sessions):
                if known is session:
                    return i
            self.sessions.append(session)
            return len(self.sessions) - 1

    def by_recipient(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    def start(self) -> FakeSMTP:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> FakeSMTP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler:
    def __init__(self, server: FakeSMTP) -> None:
        self.server = server

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.server.session_index(session)
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.server.stall:
            await asyncio.sleep(self.server.stall)
        if address in self.server.drop_on:
            server.transport.close()
            return "421 4.4.2 gone"  # never reaches the client: the transport is closed
        reply = self.server.rcpt_replies.get(address) or self.server.rcpt_reply
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server.data_reply:
            return self.server.data_reply
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=default_policy)
        index = self.server.session_index(session)
        with self.server.lock:
            self.server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, index))
        return "250 2.0.0 queued"
