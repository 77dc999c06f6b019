"""The notifier's web pages rendered from a board and a silence book, without a broker:
hostile incident text stays text, silence forms are prefilled and validated."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from notifiers.board import DUE, Board
from notifiers.silences import SilenceStore
from notifiers.state import SilenceBook
from notifiers.ui import board_pages, matchers_for
from runtime.config import KafkaSettings
from runtime.http import Page, PageHandler
from schemas import Matcher, Silence
from schemas.base import utc_now
from tests.support.alerts import update

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&'


@pytest.fixture
def book() -> SilenceBook:
    return SilenceBook()


@pytest.fixture
def board() -> Board:
    return Board()


@pytest.fixture
def pages(board: Board, book: SilenceBook) -> PageHandler:
    # The producer is never used here: nothing below saves a silence.
    store = SilenceStore(KafkaSettings(bootstrap_servers="127.0.0.1:9"), book)
    return board_pages(board, store, receiver="oncall", timezone="Asia/Shanghai")


def text(page: Page) -> str:
    assert page.content_type.startswith("text/html")
    return page.body.decode()


def test_hostile_incident_text_is_escaped_on_every_page(
    board: Board, book: SilenceBook, pages: PageHandler
) -> None:
    hostile = update(7, title=HOSTILE, message=HOSTILE, workload=HOSTILE, namespace="shop")
    hostile = hostile.model_copy(update={"labels": {**hostile.labels, "note": HOSTILE}})
    board.seen(hostile, "silenced", at=utc_now(), silence_id="s1")
    now = utc_now()
    book.put(
        "s1",
        Silence(
            id="s1",
            matchers=[Matcher.model_validate({"name": "note", "op": "=", "value": HOSTILE})],
            starts_at=now,
            ends_at=now + timedelta(hours=1),
            created_by=HOSTILE,
            comment=HOSTILE,
            updated_at=now,
        ),
    )
    fingerprint = hostile.fingerprint
    for target in ("/", f"/incidents/{fingerprint}", "/silences", f"/silences/new?incident={fingerprint}"):
        page = pages("GET", target, b"")
        body = text(page)
        assert page.status == 200, target
        assert "<script" not in body, target
        assert "<img" not in body, target
        assert "&lt;script&gt;" in body, target
        policy = dict(page.headers)["content-security-policy"]
        assert "default-src 'none'" in policy, "no script may run, whatever slips through"
        assert "script-src" not in policy
    form = text(pages("GET", f"/silences/new?incident={fingerprint}", b""))
    textarea = re.search(r'<textarea class="matchers"[^>]*>(.*?)</textarea>', form, re.DOTALL)
    assert textarea is not None
    # The prefilled matchers, once the browser unescapes them, parse back to the labels.
    parsed = [Matcher.model_validate(line) for line in html.unescape(textarea.group(1)).splitlines()]
    assert all(m.matches(hostile.labels) for m in parsed)
    assert {m.name for m in parsed} == set(hostile.labels)


def test_incidents_page_filters_and_shows_each_latest_decision(board: Board, pages: PageHandler) -> None:
    board.seen(update(1, namespace="shop", title="Crash loop in checkout"), "silenced", at=utc_now())
    board.seen(update(2, namespace="payments", title="Image pull failing in ledger"), DUE, at=utc_now())
    board.settled(f"{2:016x}", 1, "delivered", at=utc_now())

    everything = text(pages("GET", "/", b""))
    assert "Crash loop in checkout" in everything
    assert "Image pull failing in ledger" in everything
    assert ">silenced<" in everything
    assert ">delivered<" in everything
    assert f'href="/silences/new?incident={1:016x}"' in everything

    payments = text(pages("GET", "/?" + urlencode({"namespace": "payments", "status": "firing"}), b""))
    assert "Image pull failing in ledger" in payments
    assert "Crash loop in checkout" not in payments
    assert '<option value="payments" selected>' in payments
    nothing = text(pages("GET", "/?cluster=elsewhere", b""))
    assert "No incident matches these filters." in nothing


def test_incident_page_lists_every_version_newest_first(board: Board, pages: PageHandler) -> None:
    board.seen(update(1, 1), DUE, at=utc_now())
    board.settled(f"{1:016x}", 1, "delivered", at=utc_now())
    board.seen(update(1, 2), "repeat-interval", at=utc_now())
    board.seen(update(1, 3), "silenced", at=utc_now(), silence_id="abc123")
    body = text(pages("GET", f"/incidents/{1:016x}", b""))
    decisions = re.findall(r'<span class="badge tone-\w+">([^<]+)</span>', body)
    assert decisions == ["silenced", "held: repeat interval", "delivered"]
    assert 'href="/silences#silence-abc123"' in body
    assert "+08:00" in body, "times are shown in the receiver's zone, with its offset"
    assert "CST" not in body, "never a zone abbreviation (China and US Central alike)"


def test_unknown_pages_and_incidents_are_404(pages: PageHandler) -> None:
    assert pages("GET", "/incidents/0000000000000001", b"").status == 404
    assert pages("GET", "/incidents/../../etc/passwd", b"").status == 404
    assert pages("GET", "/nowhere", b"").status == 404
    assert pages("POST", "/silences/bad id!/expire", b"").status == 404


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"matchers": "", "duration": "2h", "created_by": "ann"}, "matchers"),
        ({"matchers": "namespace shop", "duration": "2h", "created_by": "ann"}, "is not a matcher"),
        ({"matchers": 'namespace="shop"', "duration": "soon", "created_by": "ann"}, "expected a duration"),
        ({"matchers": 'namespace="shop"', "duration": "2h", "created_by": ""}, "created_by"),
    ],
)
def test_a_wrong_silence_form_is_shown_again_with_the_error(
    pages: PageHandler, form: dict[str, str], error: str
) -> None:
    page = pages("POST", "/silences", urlencode({**form, "comment": HOSTILE}).encode())
    body = text(page)
    assert page.status == 400
    assert error in html.unescape(re.search(r'role="alert">(.*?)</div>', body, re.DOTALL).group(1))  # type: ignore[union-attr]
    assert "&lt;script&gt;" in body, "what was typed is kept, escaped"
    assert "<script" not in body


def test_matchers_from_labels_quote_like_alertmanager() -> None:
    incident = update(1)
    incident = incident.model_copy(update={"labels": {"namespace": "shop", "odd": 'a"b\\c'}})
    assert matchers_for(incident) == 'namespace="shop"\nodd="a\\"b\\\\c"'
    assert Matcher.model_validate('odd="a\\"b\\\\c"').value == 'a"b\\c'
