"""The email receiver: one multipart/alternative message (text and HTML) per notification, over SMTP.

smtplib blocks, so each delivery runs in a worker thread on its own connection, bounded by
a socket timeout; no new dependency. The conversation is driven command by command so a
refused recipient stops it before DATA: either every recipient gets the message or none
does, and a retry never doubles it for some of them. Updates of one incident carry
``In-Reply-To``/``References`` naming a root derived from the fingerprint, so mail
clients thread them, and a retried update keeps its Message-ID so clients can drop a copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, FilePath, SecretStr, model_validator

from notifiers.errors import DeliveryError, PermanentError, RetryableError
from notifiers.markup import TRUNCATION_MARKER, clean_text, html, truncate_utf8, utf8_size
from notifiers.notification import Notification
from notifiers.pacing import RateLimit
from notifiers.templating import Renderer
from runtime.log import register_secrets
from runtime.redact import scrub
from schemas.base import utc_now

MAX_PART_BYTES = 512_000
"""Per part (text, HTML): about 1 MB of body, far under the usual 10-35 MB SIZE of relays."""
MAX_SUBJECT_CHARS = 200
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
TEMPLATE_FILE_SUFFIX = ".j2"
LOCALHOST = frozenset({"localhost", "127.0.0.1", "::1"})
# 7bit: every part is quoted-printable or base64, so relays without 8BITMIME take it too.
POLICY = SMTP.clone(cte_type="7bit")
_OPEN_TAIL = re.compile(r"<[^>]*\Z|&[#\w]*\Z")


def _mailbox(value: str) -> str:
    """An address, optionally with a display name; the bare address must be ASCII with one ``@``."""
    if "\r" in value or "\n" in value:
        raise ValueError("must be on one line")
    _, address = parseaddr(value)
    if not address or address.count("@") != 1 or not address.isascii() or " " in address:
        raise ValueError(f"{value!r} is not an email address such as 'Herald <alerts@example.com>'")
    return value


Mailbox = Annotated[str, AfterValidator(_mailbox)]


class EmailConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["email"] = "email"
    smarthost: str = Field(
        min_length=1, pattern=r"^[^\s/@]+$", description="Host name or IP of the SMTP relay (no port)."
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="Default 587 (starttls), 465 (tls), 25 (none)."
    )
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="starttls: upgrade or fail (never falls back to plain text); tls: implicit TLS; "
        "none: plain text, for a relay on localhost or in the pod network.",
    )
    ca_file: FilePath | None = Field(
        None, description="PEM bundle trusted for the relay's certificate; default the system's CAs."
    )
    username: str | None = Field(None, description="SMTP AUTH user; unset, no authentication.")
    password: SecretStr | None = Field(None, description="SMTP AUTH password, with username.")
    sender: Mailbox = Field(description="From: address, e.g. 'kube-herald <alerts@example.com>'.")
    to: tuple[Mailbox, ...] = Field(
        min_length=1, description="Recipients; all of them or none get each message."
    )
    subject_template: str = Field(
        "email.subject.j2",
        description="A template file name (ending in .j2) or inline Jinja text; rendered on one line.",
    )
    html_template: str = Field("email.html.j2", description="Template file of the HTML part.")
    text_template: str = Field("email.text.j2", description="Template file of the plain-text part.")
    timeout_seconds: float = Field(30.0, gt=0, le=300, description="Per network operation.")
    rate_limits: tuple[RateLimit, ...] = Field(
        (RateLimit(messages=30, per_seconds=60),),
        description="Exchange Online's SMTP submission limit (30/min); above it incidents merge into "
        "digests instead of flooding the inbox. Set [] for an unlimited relay.",
    )

    @model_validator(mode="after")
    def _credentials_safe(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.password is not None and self.security == "none" and self.smarthost not in LOCALHOST:
            # As Go's net/smtp PlainAuth: a password never crosses the network in clear text.
            raise ValueError("a password needs security starttls or tls, unless the relay is on localhost")
        return self


def one_line(text: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """A header value from rendered text: every line break and control character is gone, so
    event text cannot add a header; long values end with an ellipsis."""
    line = " ".join(clean_text(text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def truncate_html(text: str, limit: int) -> str:
    """Cut at a UTF-8 boundary, dropping a half-written tag or entity at the end, and say so.

    Elements left open are closed by every HTML renderer."""
    if utf8_size(text) <= limit:
        return text
    marker = f"<p>{html(TRUNCATION_MARKER)}</p>"
    cut = truncate_utf8(text, limit - utf8_size(marker), marker="")
    return _OPEN_TAIL.sub("", cut) + marker


def classify(exc: OSError, *, target: str, secrets: list[str]) -> DeliveryError:
    """The one place an SMTP failure becomes retryable or permanent.

    4xx replies, timeouts and broken connections pass; 5xx replies (a refused login, an
    unknown recipient), an untrusted certificate and a relay lacking STARTTLS or AUTH do not.
    """
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        # Scrub before cutting: a cut could split a secret that scrub then no longer finds.
        message = f"{target} answered {exc.smtp_code} {one_line(scrub(reply, secrets), 300)}"
        return PermanentError(message) if 500 <= exc.smtp_code < 600 else RetryableError(message)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return RetryableError(scrub(f"{target}: disconnected: {exc}", secrets))
    if isinstance(exc, smtplib.SMTPException):
        return PermanentError(scrub(f"{target}: {exc}", secrets))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError(scrub(f"{target}: certificate not trusted: {exc.verify_message}", secrets))
    if isinstance(exc, TimeoutError):
        return RetryableError(f"{target}: timed out")
    return RetryableError(scrub(f"{target}: {type(exc).__name__}: {exc}", secrets))


def _expect(reply: tuple[int, bytes], command: str) -> None:
    """smtplib returns MAIL, RCPT and the end of DATA's replies without raising: raise, for classify."""
    code, text = reply
    if not 200 <= code < 300:
        raise smtplib.SMTPResponseException(code, f"to {command}: {text.decode(errors='replace')}")


class EmailReceiver:
    config_model: ClassVar[type[BaseModel]] = EmailConfig
    type = "email"

    def __init__(self, config: BaseModel, renderer: Renderer) -> None:
        assert isinstance(config, EmailConfig)
        self.name = config.name
        self._config = config
        self.rate_limits = config.rate_limits
        self._renderer = renderer
        self._port = config.port or DEFAULT_PORTS[config.security]
        self._password = config.password.get_secret_value() if config.password else None
        self._secrets = [self._password] if self._password else []
        register_secrets(self._secrets)
        self._envelope_from = parseaddr(config.sender)[1]
        self._recipients = [parseaddr(item)[1] for item in config.to]
        self._domain = self._envelope_from.rpartition("@")[2]
        self._tls = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)

    @property
    def target(self) -> str:
        host = f"[{self._config.smarthost}]" if ":" in self._config.smarthost else self._config.smarthost
        scheme = "smtps" if self._config.security == "tls" else "smtp"
        return f"{scheme}://{host}:{self._port}"

    def subject(self, notification: Notification) -> str:
        source = self._config.subject_template
        if source.endswith(TEMPLATE_FILE_SUFFIX):
            return one_line(self._renderer.render(source, notification))
        return one_line(self._renderer.render_string(source, notification))

    def _parts(self, notification: Notification) -> tuple[str, str]:
        text = self._renderer.render(self._config.text_template, notification)
        body = self._renderer.render(self._config.html_template, notification, markup="html")
        return text, body

    def fits(self, notification: Notification) -> bool:
        text, body = self._parts(notification)
        return utf8_size(text) <= MAX_PART_BYTES and utf8_size(body) <= MAX_PART_BYTES

    def preview(self, notification: Notification) -> str:
        """The headers and both parts as a reader sees them (the wire form is quoted-printable)."""
        message = self.message(notification)
        headers = "".join(f"{name}: {value}\n" for name, value in message.items())
        parts = [(part.get_content_subtype(), part.get_content()) for part in message.iter_parts()]
        shown = headers + "".join(f"\n--- {kind} ---\n{content.rstrip()}\n" for kind, content in parts)
        return shown.replace("\r\n", "\n")

    def message(self, notification: Notification) -> EmailMessage:
        """The message as sent: both parts within the limit, thread headers for one incident."""
        text, body = self._parts(notification)
        message = EmailMessage(policy=POLICY)
        message["Subject"] = self.subject(notification)
        message["From"] = self._config.sender
        message["To"] = ", ".join(self._config.to)
        message["Date"] = format_datetime(utc_now())
        # RFC 3834: vacation responders and ticket systems must not answer an alert.
        message["Auto-Submitted"] = "auto-generated"
        if notification.is_digest:
            keys = ",".join(f"{i.fingerprint}.{i.version}" for i in notification.incidents)
            message["Message-ID"] = (
                f"<digest.{hashlib.sha256(keys.encode()).hexdigest()[:32]}@{self._domain}>"
            )
        else:
            incident = notification.incidents[0]
            root = f"<{incident.fingerprint}@{self._domain}>"
            message["Message-ID"] = f"<{incident.fingerprint}.{incident.version}@{self._domain}>"
            message["In-Reply-To"] = root
            message["References"] = root
        message.set_content(truncate_utf8(text, MAX_PART_BYTES))
        message.add_alternative(truncate_html(body, MAX_PART_BYTES), subtype="html")
        return message

    async def send(self, notification: Notification) -> None:
        data = self.message(notification).as_bytes()
        try:
            await asyncio.to_thread(self._deliver, data)
        except OSError as exc:  # smtplib's errors, socket and TLS errors are all OSErrors
            raise classify(exc, target=self.target, secrets=self._secrets) from None

    def _connect(self) -> smtplib.SMTP:
        host, timeout = self._config.smarthost, self._config.timeout_seconds
        # gethostname, not smtplib's default getfqdn: a reverse DNS lookup can stall for seconds.
        hello = socket.gethostname()
        if self._config.security == "tls":
            return smtplib.SMTP_SSL(host, self._port, hello, timeout=timeout, context=self._tls)
        return smtplib.SMTP(host, self._port, hello, timeout=timeout)

    def _deliver(self, data: bytes) -> None:
        """One SMTP conversation, in a worker thread."""
        smtp = self._connect()
        try:
            if self._config.security == "starttls":
                smtp.starttls(context=self._tls)
            smtp.ehlo_or_helo_if_needed()
            if self._config.username is not None and self._password is not None:
                smtp.login(self._config.username, self._password)
            options = [f"SIZE={len(data)}"] if smtp.has_extn("size") else []
            _expect(smtp.mail(self._envelope_from, options), "MAIL FROM")
            for recipient in self._recipients:
                _expect(smtp.rcpt(recipient), f"RCPT TO <{recipient}>")
            _expect(smtp.data(data), "DATA")
        except BaseException:
            smtp.close()  # no QUIT: after a timeout it would only wait as long again
            raise
        # Delivered: a failing goodbye must not turn into a retry that doubles the message.
        with contextlib.suppress(OSError):
            smtp.quit()
        smtp.close()

    async def aclose(self) -> None:
        return None
