"""Real-broker helpers: an isolated namespace per test and reading topics back."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, Message, Producer

from runtime.config import HeraldConfig, load_config

COUNTING_NEWS = ["new-object", "severity", "new-reason", "recovered-objects", "rate", "count"]
"""processor.notify_on in tests: the product's default news, and every count bump."""


@dataclass(frozen=True)
class Namespace:
    """One test's topics and groups: a unique prefix keeps tests from seeing each other."""

    bootstrap: str
    prefix: str
    config_path: Path

    @property
    def config(self) -> HeraldConfig:
        return load_config(self.config_path, env={})

    def topic(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"


def make_namespace(bootstrap: str, directory: Path, **sections: Any) -> Namespace:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    data: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix, "partitions": 3},
        # Tests of exact counting read each incident's count from its updates, so every
        # count bump is news here; tests of what is news set processor.notify_on themselves.
        "processor": {"data_dir": str(directory / "processor-data"), "notify_on": COUNTING_NEWS},
    }
    data.update(sections)
    path = directory / "herald.yaml"
    path.write_text(yaml.safe_dump(data))
    return Namespace(bootstrap, prefix, path)


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for key, value in messages:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def read_topic(
    bootstrap: str, topic: str, *, expected: int, timeout: float = 60.0, settle: float = 2.0
) -> list[Message]:
    """Read from the beginning until ``expected`` messages arrived, then ``settle`` seconds more.

    The extra wait is what lets a test see duplicates: stopping at exactly ``expected``
    would hide a doubled message.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if settle_until is not None and time.monotonic() > settle_until:
                break
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            messages.append(message)
            if len(messages) >= expected and settle_until is None:
                settle_until = time.monotonic() + settle
    finally:
        consumer.close()
    return messages


def ensure_namespace_topics(namespace: Namespace) -> None:
    """Create the namespace's topics up front, as `herald topics create` would."""
    from runtime.kafka import ensure_topics

    ensure_topics(namespace.config.kafka)
