"""The notifier after a restart, on the real broker: a backlog holding many versions of one
incident sends only the newest; a replica stopped by SIGTERM hands its partitions over at
once although it is a static member (which librdkafka's close alone would not do).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.alerts import configure, delivered, publish, update, webhook
from tests.support.kafka import Namespace
from tests.support.processes import herald_process
from tests.support.waiting import observe_for, wait_until
from tests.support.webhook_server import webhook_server

pytestmark = pytest.mark.integration

VERSIONS = 1500
"""Three times the notifier's poll batch (500), and more than one fetch of the partition
(about 1 MB): without reading the backlog whole, older versions would go out first."""


def notifier(namespace: Namespace, tmp_path: Path, name: str) -> Any:
    return herald_process(
        namespace.config_path, "notifier", "--receiver", "hook", log_dir=tmp_path, name=name
    )


def test_a_backlog_of_versions_1_to_n_sends_only_n(namespace: Namespace, tmp_path: Path) -> None:
    backlog = [update(0, version) for version in range(1, VERSIONS + 1)]
    backlog += [update(i, version) for version in (1, 2, 3) for i in range(1, 7)]  # every partition
    with webhook_server() as server:
        configure(namespace, [webhook("hook", server.url)])
        publish(namespace, backlog)
        with notifier(namespace, tmp_path, "notifier"):
            wait_until(
                lambda: (f"{0:016x}", VERSIONS) in delivered([r.body for r in server.accepted()]),
                timeout=180,
                what=f"version {VERSIONS} delivered",
            )
            wait_until(
                lambda: len(delivered([r.body for r in server.accepted()])) >= 7,
                timeout=120,
                what="the other incidents delivered",
            )
            observe_for(3)
        seen = delivered([r.body for r in server.accepted()])
    assert [v for f, v in seen if f == f"{0:016x}"] == [VERSIONS], "only the newest of the backlog"
    assert sorted(seen) == sorted([(f"{0:016x}", VERSIONS), *((f"{i:016x}", 3) for i in range(1, 7))])


@pytest.mark.fault
def test_a_static_member_stopped_by_sigterm_hands_its_partitions_over_at_once(
    namespace: Namespace, tmp_path: Path
) -> None:
    session_timeout = 60.0  # what the survivor would wait, were the stopped replica not to leave
    with webhook_server() as server:
        configure(
            namespace, [webhook("hook", server.url)], notifier={"session_timeout_seconds": session_timeout}
        )
        with notifier(namespace, tmp_path, "survivor"):
            with notifier(namespace, tmp_path, "stopped") as stopped:
                wait_until(
                    lambda: re.search(r"assigned \[\d", (tmp_path / "stopped.log").read_text()),
                    timeout=120,
                    what="the second replica holding partitions",
                )
                publish(namespace, [update(i) for i in range(30)])
                wait_until(lambda: len(server.accepted()) >= 30, timeout=120, what="30 deliveries")
                stopped.terminate()
                stopped.wait(60)
            handed_over = time.monotonic()
            publish(namespace, [update(i, 2) for i in range(30)])  # on every partition
            wait_until(
                lambda: sum(v == 2 for _, v in delivered([r.body for r in server.accepted()])) >= 30,
                timeout=2 * session_timeout,
                what="every second version delivered by the survivor",
            )
            took = time.monotonic() - handed_over
            observe_for(2)
        seen = Counter(delivered([r.body for r in server.accepted()]))
    assert took < session_timeout / 2, f"the survivor waited {took:.0f} s: the stopped replica did not leave"
    assert set(seen) == {(f"{i:016x}", v) for i in range(30) for v in (1, 2)}
    assert max(seen.values()) == 1, "nothing delivered twice"
