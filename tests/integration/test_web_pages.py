"""The notifier's pages over real HTTP, saving silences to the real broker: forms redirect
back, cross-origin forms are refused, and /metrics, /healthz and /api/ are unchanged; with
authentication configured the pages and the API want a credential (the probes never do), and
read-only refuses every change."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from notifiers.api import silence_api
from notifiers.board import Board
from notifiers.silences import SilenceStore
from notifiers.state import SilenceBook
from notifiers.ui import board_pages, page_guard
from runtime.config import UiAuthSettings
from runtime.http import serve_health
from schemas.base import utc_now
from tests.support.alerts import update
from tests.support.broker import free_port
from tests.support.kafka import Namespace

pytestmark = pytest.mark.integration

FORM = {"content-type": "application/x-www-form-urlencoded"}


@dataclass
class Site:
    url: str
    book: SilenceBook
    board: Board

    def post(self, path: str, data: dict[str, str], **headers: str) -> httpx.Response:
        """As a browser submits a form (an empty one too: still typed as a form)."""
        return httpx.post(
            f"{self.url}{path}", content=urlencode(data), headers={**FORM, **headers}, timeout=30
        )


@pytest.fixture
def site(namespace: Namespace) -> Iterator[Site]:
    book, board = SilenceBook(), Board()
    store = SilenceStore(namespace.config.kafka, book)
    port = free_port()
    server = serve_health(
        port,
        live=lambda: (True, ""),
        ready=lambda: (True, ""),
        api=silence_api(store),
        pages=board_pages(board, store, receiver="oncall"),
        host="127.0.0.1",
    )
    try:
        yield Site(f"http://127.0.0.1:{port}", book, board)
    finally:
        server.shutdown()
        server.server_close()


def test_a_form_adds_a_silence_then_expires_it_redirecting_back(site: Site) -> None:
    site.board.seen(update(1, namespace="shop"), "due", at=utc_now())
    origin = site.url
    added = site.post(
        "/silences",
        {
            "matchers": 'namespace="shop"\ncluster="prod"',
            "duration": "90m",
            "created_by": "ann",
            "comment": "deploy",
        },
        origin=origin,
    )
    assert added.status_code == 303
    assert added.headers["location"].startswith("/silences?added=")
    silence_id = added.headers["location"].split("=", 1)[1]
    silence = site.book.get(silence_id)
    assert silence is not None
    assert silence.created_by == "ann"
    assert [str(m.value) for m in silence.matchers] == ["shop", "prod"]
    assert 5399 <= (silence.ends_at - silence.starts_at).total_seconds() <= 5401
    listing = httpx.get(f"{site.url}/silences?added={silence_id}", timeout=10)
    assert listing.status_code == 200
    assert f'id="silence-{silence_id}"' in listing.text
    assert "state-active" in listing.text

    expired = site.post(f"/silences/{silence_id}/expire", {}, referer=f"{site.url}/silences")
    assert expired.status_code == 303
    assert expired.headers["location"] == f"/silences#silence-{silence_id}"
    silence = site.book.get(silence_id)
    assert silence is not None
    assert silence.ends_at <= utc_now()
    api = httpx.get(f"{site.url}/api/silences", timeout=10).json()
    assert [(s["id"], s["state"]) for s in api] == [(silence_id, "expired")]


def test_forms_from_another_origin_or_not_forms_are_refused(site: Site) -> None:
    form = {"matchers": 'namespace="shop"', "duration": "1h", "created_by": "mallory"}
    assert site.post("/silences", form, origin="http://evil.example").status_code == 403
    assert site.post("/silences", form, origin="null").status_code == 403
    assert site.post("/silences", form, referer="http://evil.example/page").status_code == 403
    as_json = httpx.post(f"{site.url}/silences", json=form, timeout=10)
    assert as_json.status_code == 415
    assert site.book.values() == []


def test_health_metrics_and_the_json_api_are_unchanged(site: Site) -> None:
    assert httpx.get(f"{site.url}/healthz", timeout=10).text == "ok\n"
    assert httpx.get(f"{site.url}/readyz", timeout=10).status_code == 200
    assert "python_info" in httpx.get(f"{site.url}/metrics", timeout=10).text
    created = httpx.post(
        f"{site.url}/api/silences",
        json={"matchers": ["namespace=jobs"], "created_by": "ci", "duration_seconds": 60},
        timeout=30,
    )
    assert created.status_code == 201
    assert created.json()["state"] == "active"
    assert httpx.post(f"{site.url}/api/nothing", json={}, timeout=10).json() == {
        "error": "no route for POST /api/nothing"
    }
    page = httpx.get(f"{site.url}/", timeout=10)
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"


@pytest.fixture
def guarded(namespace: Namespace) -> Iterator[Site]:
    """Basic auth or a bearer token, read-only: as a notifier with ``notifier.ui_auth`` set."""
    book, board = SilenceBook(), Board()
    store = SilenceStore(namespace.config.kafka, book)
    auth = UiAuthSettings(
        bearer_token=SecretStr(TOKEN), basic_username="ops", basic_password=SecretStr("pa55"), read_only=True
    )
    port = free_port()
    server = serve_health(
        port,
        live=lambda: (True, ""),
        ready=lambda: (True, ""),
        api=silence_api(store),
        pages=board_pages(board, store, receiver="oncall", read_only=auth.read_only),
        guard=page_guard(auth),
        host="127.0.0.1",
    )
    try:
        yield Site(f"http://127.0.0.1:{port}", book, board)
    finally:
        server.shutdown()
        server.server_close()


TOKEN = "t0ken-from-a-secret"


def test_with_auth_the_page_and_api_want_credentials_but_probes_do_not(guarded: Site) -> None:
    guarded.board.seen(update(1, namespace="shop"), "due", at=utc_now())
    for path in ("/", f"/incidents/{1:016x}", "/silences", "/api/silences"):
        refused = httpx.get(guarded.url + path, timeout=10)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Basic realm="), path
        assert TOKEN not in refused.text
        assert httpx.get(guarded.url + path, auth=("ops", "wrong"), timeout=10).status_code == 401
        bearer = {"authorization": f"Bearer {TOKEN}"}
        assert httpx.get(guarded.url + path, headers=bearer, timeout=10).status_code == 200, path
        assert httpx.get(guarded.url + path, auth=("ops", "pa55"), timeout=10).status_code == 200, path
    assert httpx.get(f"{guarded.url}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{guarded.url}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{guarded.url}/metrics", timeout=10).status_code == 200


def test_read_only_refuses_every_change_with_403(guarded: Site) -> None:
    guarded.board.seen(update(1, namespace="shop"), "due", at=utc_now())
    form = {"matchers": 'namespace="shop"', "duration": "1h", "created_by": "ann"}
    headers = {"authorization": f"Bearer {TOKEN}"}
    assert guarded.post("/silences", form, **headers).status_code == 403
    assert guarded.post("/silences", form).status_code == 401, "who it is comes first"
    assert guarded.post("/silences/abc/expire", {}, **headers).status_code == 403
    api = httpx.post(
        f"{guarded.url}/api/silences",
        json={"matchers": ["namespace=shop"], "created_by": "ci", "duration_seconds": 60},
        headers=headers,
        timeout=10,
    )
    assert api.status_code == 403
    assert httpx.delete(f"{guarded.url}/api/silences/abc", headers=headers, timeout=10).status_code == 403
    page = httpx.get(f"{guarded.url}/", headers=headers, timeout=10).text
    assert "silence this" not in page
    assert guarded.book.values() == []


def test_search_counts_and_grouping_defaults_over_http(site: Site) -> None:
    site.board.seen(
        update(1, namespace="shop", workload="checkout", title="Crash loop in checkout"), "due", at=utc_now()
    )
    site.board.seen(
        update(2, namespace="payments", cluster="prod-us-1", title="Image pull in ledger"),
        "due",
        at=utc_now(),
    )
    found = httpx.get(f"{site.url}/", params={"q": "ledger"}, timeout=10).text
    assert "Image pull in ledger" in found
    assert "Crash loop in checkout" not in found
    assert 'data-count="cluster"' in found
    assert "1 of 2 shown" in found
    form = httpx.get(f"{site.url}/silences/new", params={"incident": f"{1:016x}"}, timeout=10).text
    assert 'cluster="prod"\nnamespace="shop"\ncategory="crash-loop"</textarea>' in html.unescape(form)
    assert "reason=" not in form
    assert '<html lang="en">' in found
