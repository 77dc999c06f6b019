"""The notifier's web page in headless Chromium (Debian's package, never a downloaded
browser), against a real notifier process and broker: a person silences an incident from
the page, and its next update is recorded as silenced and never reaches the receiver.

``HERALD_WEB_UI_SCREENSHOT=docs/img/web-ui.png`` also saves the incidents page as it looks
at the end, which is how the screenshot in docs/operations.md is made.
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
SCREENSHOT = os.environ.get("HERALD_WEB_UI_SCREENSHOT")


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


def test_a_silence_added_from_the_page_stops_delivery(namespace: Namespace, tmp_path: Path) -> None:
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    with webhook_server() as hook:
        configure(namespace, [webhook("oncall", hook.url)])
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
            row = page.locator("tbody tr", has_text="CrashLoopBackOff: checkout")
            expect(row.locator(".badge", has_text="delivered")).to_be_visible()
            row.get_by_role("link", name="silence this").click()

            page.wait_for_url(re.compile(r"/silences/new\?incident="))
            expect(page.locator("#matchers")).to_have_value(re.compile(r'^namespace="shop"$', re.MULTILINE))
            page.fill("#duration", "2h")
            page.fill("#created_by", "ana")
            page.fill("#comment", "checkout fix rolling out")
            page.get_by_role("button", name="Add silence").click()

            page.wait_for_url(re.compile(r"/silences\?added="))
            active = page.locator("tbody tr.active")
            expect(active).to_have_count(1)
            expect(active).to_contain_text('namespace="shop"')
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
            expect(history.first.locator(".badge", has_text="silenced")).to_be_visible()
            expect(history.first).to_contain_text(f"silence {silence_id}")
            expect(history.last).to_contain_text("v1")
            expect(history.last.locator(".badge", has_text="delivered")).to_be_visible()
            observe_for(3)  # the window in which a wrongly sent v2 would still arrive

            if SCREENSHOT:
                page.goto(site + "/")
                page.screenshot(path=SCREENSHOT, full_page=True)
        seen = delivered([r.body for r in hook.accepted()])
    assert (f"{1:016x}", 2) not in seen, "the silenced update was sent"
    assert seen.count((f"{1:016x}", 1)) == 1
    assert seen.count((f"{5:016x}", 1)) == 1
