"""The notifier's web page in headless Chromium (Debian's package, never a downloaded
browser), against a real notifier process and broker, in English and in Chinese: the counts
and the search box narrow the list, "silence this" starts from the incident's grouping labels,
a person silences an incident from the page, and its next update is recorded as silenced and
never reaches the receiver.

``HERALD_WEB_UI_SCREENSHOTS=docs/img`` also saves the incidents page as it looks at the end
as ``ui-incidents-en.png`` and ``ui-incidents-zh.png``: the screenshots in docs/operations.md.
The Chinese page needs a CJK font (``make browser`` installs fonts-wqy-microhei).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from schemas import Incident, IncidentStatus, Severity
from tests.support.alerts import configure, delivered, publish, update, webhook
from tests.support.broker import free_port
from tests.support.kafka import Namespace
from tests.support.processes import herald_process
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import webhook_server

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = os.environ.get("HERALD_WEB_UI_SCREENSHOTS")

WORDS = {
    "en": {
        "silence this": "silence this",
        "add": "Add silence",
        "filter": "Filter",
        "delivered": "delivered",
        "silenced": "silenced",
        "silence": "silence {id}",
        "shown": "{shown} of {total} shown",
        "firing": "firing",
        "resolved": "resolved",
        "search": "Search",
    },
    "zh": {
        "silence this": "静默",
        "add": "添加静默",
        "filter": "筛选",
        "delivered": "已送达",
        "silenced": "已静默",
        "silence": "静默 {id}",
        "shown": "显示 {shown} / 共 {total} 个",
        "firing": "告警中",
        "resolved": "已恢复",
        "search": "搜索",
    },
}
"""What the page says, in each language, for the words the test looks for."""


@contextmanager
def chromium() -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install --no-install-recommends chromium (make setup does)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 640})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def checkout(version: int) -> Incident:
    return update(
        1,
        version,
        cluster="prod-eu-1",
        namespace="shop",
        workload="checkout",
        category="crash-loop",
        title="CrashLoopBackOff: checkout",
        message="Back-off restarting failed container checkout in pod checkout-7d9f8b6c5-x2k4p",
    )


def report(version: int, status: IncidentStatus) -> Incident:
    return update(
        4,
        version,
        status=status,
        cluster="prod-us-1",
        namespace="analytics",
        workload="report-builder",
        category="oom-killed",
        reason="OOMKilling",
        title="OOMKilled: report-builder",
        message="Memory cgroup out of memory: Killed process 48213 (java) total-vm:6291456kB",
    )


def others() -> list[Incident]:
    """Realistic neighbours, so the page (and its screenshot) looks like a working day."""
    return [
        update(
            2,
            cluster="prod-eu-1",
            namespace="payments",
            workload="ledger",
            severity=Severity.CRITICAL,
            category="image-pull",
            reason="Failed",
            title="ImagePullBackOff: ledger",
            message='Failed to pull image "registry.example.com/payments/ledger:v2.14.1": manifest unknown',
        ),
        update(
            3,
            cluster="prod-us-1",
            namespace="search",
            workload="indexer",
            category="scheduling",
            reason="FailedScheduling",
            title="FailedScheduling: indexer",
            message="0/12 nodes are available: 3 Insufficient memory, 9 node(s) had untolerated taint",
        ),
        report(1, IncidentStatus.FIRING),
        report(2, IncidentStatus.RESOLVED),
    ]


def gateway() -> Incident:
    """Published after the silence, matching none of its matchers."""
    return update(
        5,
        cluster="prod-eu-1",
        namespace="edge",
        workload="api-gateway",
        category="probe-failed",
        reason="Unhealthy",
        title="Unhealthy: api-gateway",
        message="Readiness probe failed: HTTP probe failed with statuscode: 503",
    )


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_silence_added_from_the_page_stops_delivery(
    namespace: Namespace, tmp_path: Path, language: str
) -> None:
    words = WORDS[language]
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    with webhook_server() as hook:
        receiver = {**webhook("oncall", hook.url), "language": language, "timezone": "Asia/Shanghai"}
        configure(namespace, [receiver])
        notifier = herald_process(
            namespace.config_path,
            "notifier",
            "--receiver",
            "oncall",
            "--http-port",
            str(port),
            log_dir=tmp_path,
            name="notifier",
        )
        with notifier, chromium() as page:
            wait_until(lambda: ready(port), timeout=120, what="the notifier ready")
            publish(namespace, [checkout(1), *others()])
            wait_until(
                lambda: (
                    {(f"{1:016x}", 1), (f"{4:016x}", 2)} <= set(delivered([r.body for r in hook.accepted()]))
                ),
                timeout=120,
                what="the first incidents delivered",
            )

            def listed() -> bool:
                page.goto(site + "/")
                return page.get_by_role("link", name="CrashLoopBackOff: checkout").count() == 1

            wait_until(listed, timeout=60, what="the page listing the checkout incident")
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if language == "zh" else "en")
            expect(page.get_by_label(words["search"])).to_be_visible()
            rows = page.locator("#incidents tbody tr")
            expect(rows).to_have_count(4)

            # The counts at the top, each a filter.
            clusters = page.locator('[data-count="cluster"]')
            expect(clusters.locator('[data-value="prod-eu-1"] b')).to_have_text("2")
            expect(clusters.locator('[data-value="prod-us-1"] b')).to_have_text("2")
            statuses = page.locator('[data-count="status"]')
            expect(statuses.locator('[data-value="firing"]')).to_contain_text(words["firing"])
            expect(statuses.locator('[data-value="firing"] b')).to_have_text("3")
            statuses.locator('[data-value="resolved"]').click()
            page.wait_for_url(re.compile(r"status=resolved"))
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("OOMKilled: report-builder")
            expect(page.locator("#shown")).to_have_text(words["shown"].format(shown=1, total=4))

            # The search box, combined with a filter, and a link that keeps both.
            page.goto(site + "/?cluster=prod-eu-1")
            page.get_by_label(words["search"]).fill("LEDGER")
            page.get_by_role("button", name=words["filter"]).click()
            page.wait_for_url(re.compile(r"q=LEDGER"))
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("ImagePullBackOff: ledger")
            assert "cluster=prod-eu-1" in page.url
            page.get_by_label(words["search"]).fill("indexer")
            page.get_by_role("button", name=words["filter"]).click()
            page.wait_for_url(re.compile(r"q=indexer"))
            expect(rows).to_have_count(0)  # indexer is in prod-us-1

            page.goto(site + "/")
            row = page.locator("tbody tr", has_text="CrashLoopBackOff: checkout")
            expect(row.locator(".badge", has_text=words["delivered"])).to_be_visible()
            row.get_by_role("link", name=words["silence this"], exact=True).click()

            page.wait_for_url(re.compile(r"/silences/new\?incident="))
            # The grouping labels the incident has, nothing narrower (no reason, no node).
            expect(page.locator("#matchers")).to_have_value(
                'cluster="prod-eu-1"\nnamespace="shop"\ncategory="crash-loop"'
            )
            page.fill("#duration", "2h")
            page.fill("#created_by", "ana")
            page.fill("#comment", "checkout fix rolling out")
            page.get_by_role("button", name=words["add"]).click()

            page.wait_for_url(re.compile(r"/silences\?added="))
            active = page.locator("tbody tr.active")
            expect(active).to_have_count(1)
            expect(active).to_contain_text('namespace="shop"')
            expect(active).not_to_contain_text("reason=")
            expect(active).to_contain_text("checkout fix rolling out")
            silence_id = page.url.rsplit("=", 1)[1]

            publish(namespace, [checkout(2)])
            publish(namespace, [gateway()])
            wait_until(
                lambda: (f"{5:016x}", 1) in delivered([r.body for r in hook.accepted()]),
                timeout=120,
                what="the unsilenced incident delivered",
            )

            history = page.locator("#history tbody tr")

            def history_shows_v2() -> bool:
                page.goto(f"{site}/incidents/{1:016x}")
                return history.count() == 2

            wait_until(history_shows_v2, timeout=60, what="v2 of checkout in its history")
            expect(history.first).to_contain_text("v2")
            expect(history.first.locator(".badge", has_text=words["silenced"])).to_be_visible()
            expect(history.first).to_contain_text(words["silence"].format(id=silence_id))
            expect(history.last).to_contain_text("v1")
            expect(history.last.locator(".badge", has_text=words["delivered"])).to_be_visible()
            observe_for(3)  # the window in which a wrongly sent v2 would still arrive

            if SCREENSHOTS:
                page.goto(site + "/")
                page.screenshot(path=str(Path(SCREENSHOTS) / f"ui-incidents-{language}.png"), full_page=True)
        seen = delivered([r.body for r in hook.accepted()])
    assert (f"{1:016x}", 2) not in seen, "the silenced update was sent"
    assert seen.count((f"{1:016x}", 1)) == 1
    assert seen.count((f"{5:016x}", 1)) == 1
