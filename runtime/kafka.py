"""Kafka plumbing shared by the stages: topic creation and client factories (confluent-kafka)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # public, unlisted in stubs

from runtime.config import KafkaSettings
from schemas.topics import TopicSpec

log = logging.getLogger(__name__)


RDKAFKA_LOG = logging.getLogger("rdkafka")


def client_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """librdkafka properties for a confluent-kafka client, its logs routed to Python logging."""
    return {**settings.librdkafka(), "logger": RDKAFKA_LOG, **overrides}


def topic_config(spec: TopicSpec) -> dict[str, str]:
    if spec.compacted:
        return {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "3600000"}
    return {"cleanup.policy": "delete", "retention.ms": str(spec.retention_ms)}


def ensure_topics(
    settings: KafkaSettings, suffixes: Iterable[str] | None = None, *, timeout: float = 30.0
) -> None:
    """Create the named topics (default: all) if they do not exist yet. Idempotent."""
    wanted = set(suffixes) if suffixes is not None else None
    admin = AdminClient(client_config(settings))
    existing = set(admin.list_topics(timeout=timeout).topics)
    new = [
        NewTopic(
            name,
            num_partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            config=topic_config(spec),
        )
        for name, spec in settings.topics.all()
        if (wanted is None or spec.suffix in wanted) and name not in existing
    ]
    if not new:
        return
    for name, future in admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout).items():
        try:
            future.result()
            log.info("created topic %s", name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
