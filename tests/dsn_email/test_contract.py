"""The core's provider contract, played against dsn-email over SMTP: Django's SMTP backend
talking to an aiosmtpd server on 127.0.0.1 that answers each case the way mail servers do.

The cases with an SMTP meaning apply: a temporary failure (4xx), an address refused for good
(5xx at ``RCPT TO``, alone and within a batch), a refused connection, a server that stalls,
and rejected credentials (535 at ``AUTH``), with the password in no error text. SMTP has no
``Retry-After``, so the rate-limit cases do not apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from dsn_email.messenger import EmailMessenger

from dsn_core.testing import ProviderContract
from tests.fakes import free_port

from .conftest import FROM, smtp_connection
from .smtp_server import FakeSMTP

USER = "dsn-mailer"
PASSWORD = "smtp-pw-7c1e9a3b5d"  # fake, but the contract checks it never reaches an error


class ContractSMTP(FakeSMTP):
    """The fake SMTP server, reachable as ``smtp://127.0.0.1:<port>`` for ``messenger_at``."""

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def refused_url(self) -> str:
        return f"smtp://127.0.0.1:{free_port()}"


class TestEmailProviderContract(ProviderContract):
    cases = ProviderContract.CASES - {"rate_limited"}
    hang_for = 6.0
    bad_address = "nobody@nowhere.test"

    @pytest.fixture
    def contract_provider(self) -> Iterator[ContractSMTP]:
        with ContractSMTP(credentials=(USER, PASSWORD)) as server:
            yield server

    @pytest.fixture
    def messenger_at(self, email_settings: Callable[..., dict[str, Any]]) -> Callable[[str], EmailMessenger]:
        def make(url: str) -> EmailMessenger:
            port = urlsplit(url).port or 25
            connection = smtp_connection(port, username=USER, password=PASSWORD)
            email_settings(FROM=FROM, TIMEOUT=1, CONNECTIONS={"contract": connection})
            return EmailMessenger({"connection": "contract"})

        return make

    @pytest.fixture
    def address(self) -> str:
        return "ada@example.test"

    @pytest.fixture
    def provider_secrets(self) -> list[str]:
        return [PASSWORD]

    def answer(self, provider: ContractSMTP, case: str, *, retry_after: str = "", only_for: str | None = None) -> None:
        provider.rcpt_replies.clear()
        provider.rcpt_reply = provider.data_reply = ""
        provider.refuse_auth, provider.stall = False, 0.0
        if case == "ok":
            return
        if case == "server_error":
            provider.data_reply = "451 4.3.0 Temporary local problem, try again later"
        elif case == "bad_address":
            refusal = "550 5.1.1 No such user here"
            if only_for is None:
                provider.rcpt_reply = refusal
            else:
                provider.rcpt_replies[only_for] = refusal
        elif case == "unauthorized":
            provider.refuse_auth = True
        elif case == "hang":
            provider.stall = self.hang_for
        else:
            raise ValueError(f"SMTP has no {case!r} case")

    def received_text(self, provider: ContractSMTP) -> str:
        return "\n".join(received.text for received in provider.received)
