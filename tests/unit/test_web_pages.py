"""The notifier's web pages rendered from a board and a silence book, without a broker:
hostile incident text stays text, silence forms are prefilled (grouping labels only) and
validated, search and counts narrow the list, every page speaks the receiver's language,
and the guard wants its credentials and refuses changes when read-only."""

from __future__ import annotations

import base64
import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from notifiers.board import DUE, Board
from notifiers.silences import SilenceStore
from notifiers.state import SilenceBook
from notifiers.ui import GROUP_BY, board_pages, matchers_for, page_guard, relative
from runtime.config import KafkaSettings, UiAuthSettings, load_config
from runtime.http import Page, PageHandler
from schemas import IncidentStatus, Matcher, Severity, Silence
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
    hostile = hostile.model_copy(update={"labels": {**hostile.labels, "workload": HOSTILE, "note": HOSTILE}})
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
    assert {m.name for m in parsed} == {"cluster", "namespace", "workload", "category"}, (
        "grouping labels only"
    )


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
    assert matchers_for(incident, ["namespace", "odd"]) == 'namespace="shop"\nodd="a\\"b\\\\c"'
    assert Matcher.model_validate('odd="a\\"b\\\\c"').value == 'a"b\\c'


def test_silence_this_is_prefilled_with_the_non_empty_grouping_labels_only() -> None:
    incident = update(1, namespace="shop", workload="checkout")
    labels = {**incident.labels, "workload": "checkout", "reason": "BackOff", "node": "", "namespace": "shop"}
    incident = incident.model_copy(update={"labels": labels})
    lines = matchers_for(incident).splitlines()
    assert lines == [
        f'cluster="{incident.cluster}"',
        'namespace="shop"',
        'workload="checkout"',
        f'category="{incident.category}"',
    ]
    assert matchers_for(incident.model_copy(update={"labels": {**labels, "workload": ""}}), GROUP_BY) == (
        "\n".join(line for line in lines if not line.startswith("workload"))
    )
    assert matchers_for(incident, ["cluster", "node"]) == f'cluster="{incident.cluster}"'


def test_the_search_box_narrows_the_list_and_keeps_the_filters(board: Board, pages: PageHandler) -> None:
    board.seen(
        update(1, namespace="shop", workload="checkout", title="Crash loop in checkout"), DUE, at=utc_now()
    )
    board.seen(
        update(2, namespace="payments", workload="ledger", reason="FailedMount", title="Volume in ledger"),
        DUE,
        at=utc_now(),
    )
    board.seen(
        update(3, cluster="prod-us-1", namespace="shop", title="Crash loop in cart"), DUE, at=utc_now()
    )
    assert "Volume in ledger" in text(pages("GET", "/?q=failedmount", b"")), "a reason, ignoring case"
    found = text(pages("GET", "/?q=CHECKOUT", b""))
    assert "Crash loop in checkout" in found
    assert "Volume in ledger" not in found
    assert 'value="CHECKOUT"' in found, "the box shows what was searched"
    crash = text(pages("GET", "/?" + urlencode({"q": "crash loop", "cluster": "prod-us-1"}), b""))
    assert "Crash loop in cart" in crash
    assert "Crash loop in checkout" not in crash
    assert "1 of 3 shown" in crash
    assert "No incident matches these filters." in text(pages("GET", "/?q=nothing-like-it", b""))


def test_counts_by_status_severity_and_cluster_are_links_to_filters(board: Board, pages: PageHandler) -> None:
    board.seen(update(1, cluster="prod-eu-1"), DUE, at=utc_now())
    board.seen(update(2, cluster="prod-eu-1", severity=Severity.CRITICAL), DUE, at=utc_now())
    board.seen(update(3, cluster="prod-us-1", status=IncidentStatus.RESOLVED), DUE, at=utc_now())
    assert board.counts(["status", "severity", "cluster"]) == {
        "status": [("firing", 2), ("resolved", 1)],
        "severity": [("warning", 2), ("critical", 1)],
        "cluster": [("prod-eu-1", 2), ("prod-us-1", 1)],
    }
    body = text(pages("GET", "/?q=x", b""))
    assert re.search(
        r'href="/\?q=x&amp;cluster=prod-eu-1" data-value="prod-eu-1">.*?<b>2</b>', body, re.DOTALL
    )
    assert re.search(r'href="/\?q=x&amp;status=resolved" data-value="resolved">.*?<b>1</b>', body, re.DOTALL)
    chosen = text(pages("GET", "/?cluster=prod-eu-1", b""))
    assert 'class="tally on" href="/" data-value="prod-eu-1"' in chosen, "a chosen count links back to all"


def test_the_list_refreshes_itself_unless_paused(board: Board, pages: PageHandler) -> None:
    listing = text(pages("GET", "/?status=firing", b""))
    assert '<meta http-equiv="refresh" content="30">' in listing
    assert 'href="/?status=firing&amp;refresh=off"' in listing
    paused = text(pages("GET", "/?status=firing&refresh=off", b""))
    assert "http-equiv" not in paused
    assert 'href="/?status=firing"' in paused, "resume keeps the filters"
    assert 'name="refresh" value="off"' in paused, "filtering keeps it paused"
    assert "http-equiv" not in text(pages("GET", "/silences", b"")), "never while typing a silence"


def chinese(board: Board, book: SilenceBook, **options: Any) -> PageHandler:
    store = SilenceStore(KafkaSettings(bootstrap_servers="127.0.0.1:9"), book)
    return board_pages(board, store, receiver="oncall", timezone="Asia/Shanghai", language="zh", **options)


def test_every_page_speaks_chinese_when_the_receiver_does(board: Board, book: SilenceBook) -> None:
    incident = update(1, namespace="shop", category="crash-loop", title="CrashLoopBackOff: checkout")
    board.seen(incident, "delivered", at=utc_now() - timedelta(minutes=3))
    pages = chinese(board, book)
    listing = text(pages("GET", "/", b""))
    assert '<html lang="zh-CN">' in listing
    for words in ("事件", "静默", "搜索", "集群", "告警中", "已送达", "每 30 秒自动刷新"):
        assert words in listing, words
    assert "分钟前" in listing or "秒前" in listing
    detail = text(pages("GET", f"/incidents/{incident.fingerprint}", b""))
    assert "历史" in detail
    assert "静默此事件" in detail
    assert "3 分钟前" in detail
    form = text(pages("GET", f"/silences/new?incident={incident.fingerprint}", b""))
    assert "匹配条件" in form
    assert "添加静默" in form
    wrong = text(pages("POST", "/silences", urlencode({"matchers": "", "duration": "2h"}).encode()))
    assert "静默未添加" in wrong
    missing = pages("GET", "/nowhere", b"")
    assert missing.status == 404
    assert "没有这个页面" in text(missing)
    for body in (listing, detail, form):
        for english in (">Incidents<", ">Silences<", "Search", "firing<", "ago)"):
            assert english not in body, english


def test_relative_times_in_both_languages() -> None:
    assert relative(-180) == "3m ago"
    assert relative(7200) == "in 2h"
    assert relative(-180, "zh") == "3 分钟前"
    assert relative(2 * 86400 + 5, "zh") == "2 天后"


def test_read_only_pages_offer_no_silence_forms(board: Board, book: SilenceBook) -> None:
    incident = update(1)
    board.seen(incident, DUE, at=utc_now())
    now = utc_now()
    book.put(
        "s1",
        Silence(
            id="s1",
            matchers=[Matcher.model_validate("namespace=shop")],
            starts_at=now,
            ends_at=now + timedelta(hours=1),
            created_by="ann",
            updated_at=now,
        ),
    )
    pages = chinese(board, book, read_only=True)
    for target in ("/", f"/incidents/{incident.fingerprint}", "/silences"):
        body = text(pages("GET", target, b""))
        assert "/silences/new" not in body, target
        assert "/expire" not in body, target
    assert pages("GET", f"/silences/new?incident={incident.fingerprint}", b"").status == 403
    assert pages("POST", "/silences", b"matchers=a%3Db&duration=1h&created_by=x").status == 403
    assert pages("POST", "/silences/s1/expire", b"").status == 403
    assert book.get("s1") is not None


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_guard_wants_the_token_or_the_basic_credentials() -> None:
    assert page_guard(UiAuthSettings()) is None, "open unless configured"
    auth = UiAuthSettings(
        bearer_token=SecretStr("s3cret-token"), basic_username="ops", basic_password=SecretStr("pa:ss")
    )
    guard = page_guard(auth)
    assert guard is not None
    refused = guard("GET", "/", {})
    assert refused is not None
    assert refused.status == 401
    assert dict(refused.headers)["www-authenticate"].startswith("Basic realm=")
    assert b"s3cret" not in refused.body
    for wrong in (
        "Bearer nope",
        "Bearer s3cret-token2",
        basic("ops", "pa:s"),
        basic("op", "pa:ss"),
        "Basic !!",
    ):
        answer = guard("GET", "/", {"authorization": wrong})
        assert answer is not None
        assert answer.status == 401, wrong
    for right in ("Bearer s3cret-token", "bearer  s3cret-token", basic("ops", "pa:ss")):
        assert guard("POST", "/api/silences", {"authorization": right}) is None, right
    read_only = page_guard(UiAuthSettings(bearer_token=SecretStr("t"), read_only=True), language="zh")
    assert read_only is not None
    assert read_only("GET", "/", {"authorization": "Bearer t"}) is None
    for method in ("POST", "DELETE"):
        answer = read_only(method, "/silences", {"authorization": "Bearer t"})
        assert answer is not None
        assert answer.status == 403
        assert "只读" in answer.body.decode()
    bearer_only = page_guard(UiAuthSettings(bearer_token=SecretStr("t")))
    assert bearer_only is not None
    answer = bearer_only("GET", "/", {})
    assert answer is not None
    assert dict(answer.headers)["www-authenticate"] == 'Bearer realm="kube-herald"'


def test_basic_auth_needs_both_halves() -> None:
    with pytest.raises(ValueError, match="basic_username and basic_password"):
        UiAuthSettings(basic_username="ops")


def test_the_credentials_can_come_from_a_mounted_secret_and_never_show(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-the-secret\n")
    (tmp_path / "password").write_text("pa55\n")
    (tmp_path / "herald.yaml").write_text(
        "notifier:\n  ui_auth:\n    bearer_token_file: token\n"
        "    basic_username: ops\n    basic_password_file: password\n    read_only: true\n"
    )
    auth = load_config(tmp_path / "herald.yaml", env={}).notifier.ui_auth
    assert auth.bearer_token == SecretStr("from-the-secret")
    assert auth.basic_password == SecretStr("pa55")
    assert auth.read_only
    assert "from-the-secret" not in repr(auth)
    assert "pa55" not in repr(auth)
    guard = page_guard(auth)
    assert guard is not None
    assert guard("GET", "/", {"authorization": "Bearer from-the-secret"}) is None
