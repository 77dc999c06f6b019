"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records what it accepts and answers as scripted.

It speaks SMTP as a relay does: AUTH PLAIN/LOGIN checked against a known password (and
refused until given), STARTTLS or implicit TLS with a certificate the test made, and
4xx/5xx replies on demand at RCPT or DATA. A message counts as delivered only when DATA
is accepted, as it does for the people it is addressed to.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USERNAME = "herald"


@dataclass(frozen=True)
class Accepted:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    """The handler and the script: set ``rcpt_reply``/``data_reply`` (e.g. ``"451 4.3.0 busy"``)
    to refuse, ``stall_seconds`` to hang before answering DATA."""

    password: str | None = None
    tls: ssl.SSLContext | None = None
    implicit_tls: bool = False
    auth_reply: str | None = None
    rcpt_reply: str | None = None
    refused_rcpt: str | None = None
    data_reply: str | None = None
    stall_seconds: float = 0.0
    accepted: list[Accepted] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate(
        self, _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.password is not None
            and data.login == USERNAME.encode()
            and data.password == self.password.encode()
        )
        return AuthResult(
            success=ok, handled=False, message=None if ok else self.auth_reply, auth_data=data if ok else None
        )

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook names)
        self, _server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.password is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply and self.refused_rcpt in (None, address):
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        if self.data_reply:
            return self.data_reply
        assert isinstance(envelope.content, bytes)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        # After STARTTLS and with implicit TLS alike, the transport is the TLS one.
        tls = server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
        with self.lock:
            self.accepted.append(
                Accepted(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=envelope.content,
                    tls=tls,
                    login=login,
                )
            )
        return "250 2.0.0 Queued"

    def protocol(self, loop: asyncio.AbstractEventLoop) -> SMTP:
        return SMTP(
            self,
            hostname="smtp.test",  # not the default getfqdn(): reverse DNS can stall
            loop=loop,
            authenticator=self.authenticate,
            # AUTH is offered on the plain server too (a relay on localhost), and needs
            # TLS on the STARTTLS one, as a public relay does.
            auth_require_tls=self.tls is not None and not self.implicit_tls,
            tls_context=None if self.implicit_tls else self.tls,
        )


@contextmanager
def smtp_server(server: SmtpServer) -> Iterator[SmtpServer]:
    """Run ``server`` on an ephemeral port in its own thread and event loop."""
    loop = asyncio.new_event_loop()
    listener = loop.run_until_complete(
        loop.create_server(
            lambda: server.protocol(loop),
            host="127.0.0.1",
            port=0,
            ssl=server.tls if server.implicit_tls else None,
        )
    )
    server.port = listener.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, name="smtp-server", daemon=True)
    thread.start()

    async def shutdown() -> None:
        listener.close()
        await listener.wait_closed()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, with its key (``cryptography`` is not a
    dependency, the ``openssl`` CLI is everywhere)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-days", "1",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(cert),
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
