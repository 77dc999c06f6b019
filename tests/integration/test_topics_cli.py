"""``herald topics create|verify`` against the real broker, in a namespace of its own."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from processors.faustkit.app import ensure_changelogs
from schemas.topics import DAY_MS, TOPIC_SPECS
from tests.support.kafka import Namespace
from tests.support.processes import herald_command

pytestmark = pytest.mark.integration


def herald_topics(namespace: Namespace, action: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERALD_")}
    env["COLUMNS"] = "160"
    return subprocess.run(
        herald_command(namespace.config_path, "topics", action),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def admin(namespace: Namespace) -> Iterator[AdminClient]:
    client = AdminClient({"bootstrap.servers": namespace.bootstrap})
    yield client
    ours = [name for name in client.list_topics(timeout=15).topics if name.startswith(namespace.prefix)]
    if ours:
        for future in client.delete_topics(ours, operation_timeout=30).values():
            future.result()


def test_create_makes_every_documented_topic_idempotently_and_verify_agrees(
    namespace: Namespace, admin: AdminClient
) -> None:
    created = herald_topics(namespace, "create")
    assert created.returncode == 0, created.stdout + created.stderr
    names = [namespace.topic(spec.suffix) for spec in TOPIC_SPECS]
    assert sorted(
        line.removeprefix("created ") for line in created.stdout.splitlines() if line.startswith("created ")
    ) == sorted(names)

    metadata = admin.list_topics(timeout=15).topics
    configs = {
        resource.name: future.result()
        for resource, future in admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, name) for name in names]
        ).items()
    }
    for spec in TOPIC_SPECS:
        name = namespace.topic(spec.suffix)
        assert len(metadata[name].partitions) == 3  # kafka.partitions of the namespace's config
        assert configs[name]["cleanup.policy"].value == ("compact" if spec.compacted else "delete")
        if not spec.compacted:
            assert configs[name]["retention.ms"].value == str(spec.retention_ms)

    verified = herald_topics(namespace, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count(" ok ") == len(TOPIC_SPECS)

    again = herald_topics(namespace, "create")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "every topic exists already" in again.stdout
    assert "created " not in again.stdout


def test_verify_says_what_differs_and_how_to_fix_it(namespace: Namespace, admin: AdminClient) -> None:
    raw, silences, alerts = (namespace.topic(s) for s in ("events.raw", "silences", "alerts"))
    wrong = [
        NewTopic(raw, num_partitions=1, replication_factor=1, config={"retention.ms": str(3 * DAY_MS)}),
        NewTopic(silences, num_partitions=3, replication_factor=1, config={"cleanup.policy": "delete"}),
        NewTopic(alerts, num_partitions=3, replication_factor=1, config={"retention.ms": str(DAY_MS)}),
    ]
    for future in admin.create_topics(wrong, operation_timeout=30).values():
        future.result()

    missing = herald_topics(namespace, "verify")
    assert missing.returncode == 1
    hint = f"fix: herald -c {namespace.config_path} topics create"  # the user's own -c, repeated
    assert f"{namespace.topic('events.clean')}: does not exist\n  {hint}" in missing.stdout

    created = herald_topics(namespace, "create")  # makes the missing ones, leaves the wrong ones
    assert created.returncode == 1
    assert f"created {raw}\n" not in created.stdout
    assert f"created {namespace.topic('events.clean')}\n" in created.stdout

    result = herald_topics(namespace, "verify")
    assert result.returncode == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith(namespace.prefix)]
    assert problems == [
        f"{raw}: partitions is 1, expected 3",
        f"{alerts}: retention.ms is {DAY_MS}, expected {7 * DAY_MS}",
        f"{silences}: cleanup.policy is delete, expected compact",
    ]
    fixes = result.stdout
    assert (
        f"kafka-topics.sh --bootstrap-server {namespace.bootstrap} --alter --topic {raw} --partitions 3"
        in fixes
    )
    assert f"--entity-type topics --entity-name {silences} --add-config cleanup.policy=compact" in fixes
    assert f"--entity-name {alerts} --add-config retention.ms={7 * DAY_MS}" in fixes
    assert "3 difference(s)" in result.stderr


def test_the_processor_s_changelogs_exist_whole_before_its_worker_starts(
    namespace: Namespace, admin: AdminClient
) -> None:
    """A changelog Faust declared a moment ago can be missing from the metadata at the first table write."""
    settings = namespace.config.kafka
    names = [namespace.topic("herald-processor-seen-changelog"), namespace.topic("x-incidents-changelog")]
    assert sorted(ensure_changelogs(settings, names, deadline=time.monotonic() + 60)) == sorted(names)
    metadata = admin.list_topics(timeout=15).topics
    assert {name: len(metadata[name].partitions) for name in names} == dict.fromkeys(
        names, settings.partitions
    )
    configs = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name) for name in names])
    assert {
        resource.name: future.result()["cleanup.policy"].value for resource, future in configs.items()
    } == (dict.fromkeys(names, "compact"))
    assert ensure_changelogs(settings, names, deadline=time.monotonic() + 60) == [], (
        "present ones are left alone"
    )
