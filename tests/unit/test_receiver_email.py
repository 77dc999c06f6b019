"""The email receiver against a real SMTP server (aiosmtpd): what arrives is parsed back with
the ``email`` package, as a mail client would read it."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from notifiers.errors import PermanentError, RetryableError
from notifiers.markup import TRUNCATION_MARKER
from notifiers.notification import Notification
from notifiers.receivers.email import (
    MAX_PART_BYTES,
    MAX_SUBJECT_CHARS,
    EmailConfig,
    EmailReceiver,
    one_line,
    truncate_html,
)
from notifiers.templating import Language, Renderer
from schemas import Incident, IncidentStatus, ResolvedBy, SampleMessage, Severity
from tests.support.vendors.smtp import (
    USERNAME,
    Accepted,
    SmtpServer,
    self_signed_certificate,
    server_tls,
    smtp_server,
)

PASSWORD = "s3cret-Pa55word-never-shown"
SENDER = "kube-herald <alerts@herald.example>"
TO = ("oncall@example.com", "Ops Team <ops@example.com>")
AT = datetime(2026, 11, 27, 8, tzinfo=UTC)
HOSTILE = (
    '<script>alert(1)</script> <a href="http://evil.example">click</a> <img src=x onerror=alert(2)> '
    'it\'s & "quoted"\r\nBcc: victim@evil.example\n\n<b>bold</b>'
)


HEADERS = {"Subject", "From", "To", "Date", "Auto-Submitted", "Message-ID", "MIME-Version", "Content-Type"}


def incident(
    *,
    message: str = "Back-off restarting failed container",
    title: str = "BackOff: Pod/shop/web-1",
    version: int = 1,
    status: IncidentStatus = IncidentStatus.FIRING,
    fingerprint: str = "0123456789abcdef",
    samples: int = 1,
    workload: str = "web",
    category: str = "crash-loop",
    resolved_by: ResolvedBy | None = None,
) -> Incident:
    return Incident(
        fingerprint=fingerprint,
        version=version,
        status=status,
        severity=Severity.CRITICAL,
        category=category,
        title=title,
        cluster="prod",
        namespace="shop",
        workload=workload,
        resolved_by=resolved_by,
        occurrences=3,
        first_seen=AT,
        last_seen=AT,
        objects=["Pod/shop/web-1", "Pod/shop/web-2"],
        objects_total=7,
        samples=[
            SampleMessage(reason="BackOff", message=message, object="Pod/shop/web-1", at=AT)
            for _ in range(samples)
        ],
        emitted_at=AT,
    )


def receiver(port: int | None, *, renderer: Renderer | None = None, **options: object) -> EmailReceiver:
    settings: dict[str, object] = {
        "name": "mail",
        "smarthost": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": SENDER,
        "to": list(TO),
        "timeout_seconds": 5,
        **options,
    }
    return EmailReceiver(EmailConfig.model_validate(settings), renderer or Renderer())


def send(target: EmailReceiver, *incidents: Incident) -> None:
    asyncio.run(target.send(Notification(incidents or (incident(),))))


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    body = message.get_body(("html",))
    assert text is not None
    assert body is not None
    return text.get_content(), body.get_content()


def only(server: SmtpServer) -> Accepted:
    assert len(server.accepted) == 1, f"expected one message, the server accepted {len(server.accepted)}"
    return server.accepted[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def test_one_multipart_message_reaches_every_recipient() -> None:
    with smtp_server(SmtpServer()) as server:
        target = receiver(server.port)
        send(target)
    accepted = only(server)
    assert accepted.mail_from == "alerts@herald.example"
    assert accepted.rcpt_tos == ["oncall@example.com", "ops@example.com"]
    message = accepted.message
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "[FIRING] critical · Crash loop shop/web · prod"
    assert [address for _, address in getaddresses([message["To"]])] == accepted.rcpt_tos
    assert message["From"] == SENDER
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"].datetime.tzinfo is not None
    text, body = parts(message)
    for part in (text, body):
        for shown in (
            "Crash loop shop/web",
            "prod",
            "shop",
            "web",
            "BackOff",
            "Pod/shop/web-1",
            "2026-11-27 08:00:00 +00:00",
        ):
            assert shown in part
        assert "Back-off restarting failed container" in part
        assert "+5 more" in part
    assert body.lstrip().startswith("<!DOCTYPE html>")
    assert target.target == f"smtp://127.0.0.1:{server.port}"


def test_updates_of_one_incident_thread_together_and_a_digest_stands_alone() -> None:
    with smtp_server(SmtpServer()) as server:
        target = receiver(server.port)
        send(target, incident(version=1))
        closed = incident(version=2, status=IncidentStatus.RESOLVED, resolved_by=ResolvedBy.RECOVERY)
        send(target, closed)
        send(target, closed)  # a retry of the same update
        send(target, incident(version=3), incident(fingerprint="fedcba9876543210"))
    first, resolved, retried, digest = (accepted.message for accepted in server.accepted)
    root = "<0123456789abcdef@herald.example>"
    assert first["In-Reply-To"] == first["References"] == root
    assert resolved["In-Reply-To"] == resolved["References"] == root
    assert first["Message-ID"] == "<0123456789abcdef.1@herald.example>"
    assert resolved["Message-ID"] == retried["Message-ID"] == "<0123456789abcdef.2@herald.example>"
    assert resolved["Subject"].startswith("[RECOVERED]")
    assert set(digest.keys()) == HEADERS
    assert digest["Message-ID"] not in {first["Message-ID"], resolved["Message-ID"]}
    assert digest["Subject"] == "2 incidents (FIRING 2, CLOSED 0) · prod"
    text, body = parts(digest)
    assert text.count("Crash loop shop/web") == 2
    assert body.count("Crash loop shop/web") == 2


def test_hostile_event_text_is_inert_in_html_and_cannot_add_headers() -> None:
    hostile_title = "BackOff\r\nBcc: victim@evil.example\r\n\r\n<script>x</script>"
    with smtp_server(SmtpServer()) as server:
        send(receiver(server.port), incident(message=HOSTILE, workload=hostile_title))
    accepted = only(server)
    assert accepted.rcpt_tos == ["oncall@example.com", "ops@example.com"]
    message = accepted.message
    assert message["Bcc"] is None
    header_block = accepted.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    names = {line.split(b":", 1)[0].decode() for line in header_block if not line[:1].isspace()}
    assert names == {*HEADERS, "In-Reply-To", "References"}
    assert message["Subject"] == (
        "[FIRING] critical · Crash loop shop/BackOff Bcc: victim@evil.example <script>x</script> · prod"
    )
    text, body = parts(message)
    for tag in ("<script", "<a href", "<img", "<b>"):
        assert tag not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;a href=&quot;http://evil.example&quot;&gt;click&lt;/a&gt;" in body
    assert "it&#39;s &amp; &quot;quoted&quot;" in body
    # The text part shows the message as written: plain text has nothing to escape.
    assert "<script>alert(1)</script>" in text
    assert "Bcc: victim@evil.example" in text


def test_login_with_the_right_password_is_accepted() -> None:
    with smtp_server(SmtpServer(password=PASSWORD)) as server:
        send(receiver(server.port, username=USERNAME, password=PASSWORD))
    assert only(server).login == USERNAME


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ({"username": USERNAME, "password": "wrong-password"}, "535"),
        ({}, "530"),
    ],
    ids=["wrong-password", "no-login"],
)
def test_a_refused_login_is_permanent(credentials: dict[str, str], expected: str) -> None:
    with smtp_server(SmtpServer(password=PASSWORD)) as server:
        target = receiver(server.port, **credentials)
        with pytest.raises(PermanentError, match=expected) as failure:
            send(target)
    assert server.accepted == []
    assert f"smtp://127.0.0.1:{server.port}" in str(failure.value)


@pytest.mark.parametrize(
    ("script", "error", "code"),
    [
        ({"rcpt_reply": "451 4.3.0 Mailbox temporarily unavailable"}, RetryableError, "451"),
        ({"rcpt_reply": "550 5.1.1 No such user", "refused_rcpt": "ops@example.com"}, PermanentError, "550"),
        ({"data_reply": "451 4.7.1 Greylisted, try again"}, RetryableError, "451"),
        ({"data_reply": "554 5.7.1 Rejected as spam"}, PermanentError, "554"),
        ({"rcpt_reply": "421 4.3.2 Service shutting down"}, RetryableError, "421"),
    ],
    ids=["rcpt-451", "one-rcpt-550", "data-451", "data-554", "rcpt-421"],
)
def test_replies_classify_and_nobody_gets_a_partial_delivery(
    script: dict[str, Any], error: type[Exception], code: str
) -> None:
    with smtp_server(SmtpServer(**script)) as server:
        with pytest.raises(error, match=code):
            send(receiver(server.port))
        # The same server, once it accepts: the retry is the first delivery anyone sees.
        server.rcpt_reply = server.data_reply = None
        send(receiver(server.port))
    assert only(server).rcpt_tos == ["oncall@example.com", "ops@example.com"]


def test_server_down_is_retryable() -> None:
    port = free_port()
    with pytest.raises(RetryableError, match=f"smtp://127.0.0.1:{port}: ConnectionRefusedError"):
        send(receiver(port))


def test_a_hung_server_times_out_as_retryable() -> None:
    with smtp_server(SmtpServer(stall_seconds=5)) as server:
        started = time.monotonic()
        with pytest.raises(RetryableError, match="timed out"):
            send(receiver(server.port, timeout_seconds=0.3))
        assert time.monotonic() - started < 3


def test_password_never_in_errors_target_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # A relay that echoes the attempted credentials back in its refusal.
    echo = f"535 5.7.8 bad credentials for {USERNAME}:{PASSWORD}"
    errors: list[Exception] = []
    with smtp_server(SmtpServer(password="other", auth_reply=echo)) as server:
        target = receiver(server.port, username=USERNAME, password=PASSWORD)
        with pytest.raises(PermanentError) as refused:
            send(target)
        errors.append(refused.value)
        with smtp_server(SmtpServer(password=PASSWORD, data_reply=f"451 4.3.0 busy {PASSWORD}")) as busy:
            with pytest.raises(RetryableError) as retry:
                send(receiver(busy.port, username=USERNAME, password=PASSWORD))
            errors.append(retry.value)
    assert "535" in str(errors[0])
    assert "<redacted>" in str(errors[0])
    for shown in [*map(str, errors), target.target, repr(target._config)]:
        assert PASSWORD not in shown
    # The client side only: mail.log is the test server, which echoed the password on purpose.
    assert caplog.records
    assert not [r for r in caplog.records if not r.name.startswith("mail.log") and PASSWORD in r.getMessage()]


def test_starttls_with_a_trusted_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with smtp_server(SmtpServer(password=PASSWORD, tls=server_tls(cert, key))) as server:
        send(
            receiver(
                server.port, security="starttls", ca_file=str(cert), username=USERNAME, password=PASSWORD
            )
        )
    accepted = only(server)
    assert accepted.tls
    assert accepted.login == USERNAME


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with smtp_server(SmtpServer(tls=server_tls(cert, key), implicit_tls=True)) as server:
        target = receiver(server.port, security="tls", ca_file=str(cert))
        send(target)
    assert only(server).tls
    assert target.target == f"smtps://127.0.0.1:{server.port}"


def test_an_untrusted_certificate_is_permanent(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with (
        smtp_server(SmtpServer(tls=server_tls(cert, key))) as server,
        pytest.raises(PermanentError, match="certificate not trusted"),
    ):
        send(receiver(server.port, security="starttls"))
    assert server.accepted == []


def test_starttls_never_falls_back_to_plain_text() -> None:
    with smtp_server(SmtpServer()) as server, pytest.raises(PermanentError, match="STARTTLS"):
        send(receiver(server.port, security="starttls"))
    assert server.accepted == []


def test_a_huge_message_is_truncated_within_the_limit_and_says_so() -> None:
    huge = incident(message="x<y " * 250_000)  # 1 MB, and 2.5 MB once HTML-escaped
    with smtp_server(SmtpServer()) as server:
        target = receiver(server.port)
        assert not target.fits(Notification((huge,)))
        send(target, huge)
    text, body = (part.replace("\r\n", "\n").rstrip("\n") for part in parts(only(server).message))
    assert len(text.encode()) <= MAX_PART_BYTES
    assert len(body.encode()) <= MAX_PART_BYTES
    assert text.endswith(TRUNCATION_MARKER)
    assert body.endswith(f"<p>{TRUNCATION_MARKER}</p>")
    assert body.count("x&lt;y") > 50_000
    assert "<y" not in body


def test_a_digest_stops_fitting_before_the_limit() -> None:
    target = receiver(1)
    incidents: list[Incident] = []
    while True:
        candidate = incident(title="t" * 10_000, fingerprint=f"{len(incidents):016x}")
        if not target.fits(Notification((*incidents, candidate))):
            break
        incidents.append(candidate)
    assert len(incidents) > 10
    fitting = target._parts(Notification(tuple(incidents)))
    too_big = target._parts(Notification((*incidents, candidate)))
    assert all(len(part.encode()) <= MAX_PART_BYTES for part in fitting)
    assert any(len(part.encode()) > MAX_PART_BYTES for part in too_big)


@pytest.mark.parametrize(
    ("language", "subject", "words"),
    [
        ("en", "[FIRING] critical · Image pull failing", ("Cluster", "Occurrences", "Recent messages")),
        ("zh", "[告警] 严重 · 镜像拉取失败", ("集群", "发生次数", "最近消息")),
    ],
)
def test_templates_read_in_english_and_chinese(
    language: Language, subject: str, words: tuple[str, ...]
) -> None:
    with smtp_server(SmtpServer()) as server:
        send(receiver(server.port, renderer=Renderer(language=language)), incident(category="image-pull"))
    message = only(server).message
    assert message["Subject"] == f"{subject} shop/web · prod"
    for part in parts(message):
        assert subject.rsplit(" · ", 1)[1] in part
        for word in words:
            assert word in part
    # Relays without 8BITMIME take it: the wire form is 7-bit.
    assert only(server).data.isascii()


def test_inline_subject_template() -> None:
    with smtp_server(SmtpServer()) as server:
        send(receiver(server.port, subject_template="{{ incident.cluster }} | {{ incident.title }}"))
    assert only(server).message["Subject"] == "prod | BackOff: Pod/shop/web-1"


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"smarthost": "smtp.example.com", "username": "u", "password": "p"}, "needs security"),
        ({"username": "u"}, "go together"),
        ({"to": []}, "at least 1"),
        ({"to": ["not-an-address"]}, "not an email address"),
        ({"sender": "a@b.example\r\nBcc: x@evil.example"}, "one line"),
    ],
)
def test_config_refuses_unsafe_or_broken_settings(options: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        receiver(25, **options)


def test_default_port_follows_security() -> None:
    assert receiver(None, security="starttls", smarthost="smtp.example.com").target.endswith(":587")
    assert (
        receiver(None, security="tls", smarthost="smtp.example.com").target == "smtps://smtp.example.com:465"
    )


@given(st.text())
def test_a_subject_is_always_one_line(text: str) -> None:
    line = one_line(text)
    assert not any(char in line for char in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    assert len(line) <= MAX_SUBJECT_CHARS


@given(
    st.lists(st.sampled_from(["<td>", "</td>", "&amp;", "&lt;", "é", "中", "x", '<a href="u">'])).map(
        "".join
    ),
    st.integers(min_value=40, max_value=400),
)
def test_html_truncation_never_cuts_a_tag_or_entity(html: str, limit: int) -> None:
    cut = truncate_html(html, limit)
    assert len(cut.encode()) <= max(limit, len(html.encode()))
    if cut != html:
        kept = cut.removesuffix(f"<p>{TRUNCATION_MARKER}</p>")
        assert html.startswith(kept)
        assert "<" not in kept[kept.rfind(">") + 1 :], "ends inside a tag"
        assert re.search(r"&[#\w]*$", kept) is None, "ends inside an entity"
