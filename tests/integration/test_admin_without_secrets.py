"""Commands that deliver nothing run where the receivers' secrets are not set (issue 18).

The file writes ``${ROBOT_URL}`` as the README shows; the variable is unset here, as it is
everywhere but in the one notifier that delivers to that robot.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.kafka import make_namespace
from tests.support.processes import herald_command

pytestmark = pytest.mark.integration

VARIABLE = "HERALD_TEST_UNSET_WECOM_ROBOT_URL"
RECEIVERS = [
    {"name": "wecom", "type": "wecom", "url": f"${{{VARIABLE}}}"},
    {"name": "out", "type": "console"},
]


@pytest.fixture
def config(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Path]:
    namespace = make_namespace(kafka_bootstrap, tmp_path, receivers=RECEIVERS)
    yield namespace.config_path
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    ours = [name for name in admin.list_topics(timeout=15).topics if name.startswith(namespace.prefix)]
    if ours:
        for future in admin.delete_topics(ours, operation_timeout=30).values():
            future.result()


def herald(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERALD_")}
    return subprocess.run(
        herald_command(config, *args), capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def test_admin_commands_run_without_the_receivers_secrets(config: Path) -> None:
    for args in (("topics", "create"), ("silence", "ls"), ("render", "--receiver", "out")):
        result = herald(config, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert "configuration error" not in result.stderr

    rendered = herald(config, "render", "--receiver", "wecom")
    assert rendered.returncode == 0, rendered.stderr
    assert '"msgtype"' in rendered.stdout
    assert f"environment variable {VARIABLE} is not set; rendered with a placeholder" in rendered.stderr


def test_the_notifier_and_check_config_still_report_the_unset_secret(config: Path) -> None:
    expected = f"receivers[0].url: environment variable {VARIABLE} is not set"
    for args in (("notifier", "--receiver", "wecom"), ("check-config", "--quiet")):
        result = herald(config, *args, timeout=60)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
