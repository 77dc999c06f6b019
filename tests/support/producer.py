"""Shared pieces of the producer tests: config for a fake API server, reading occurrences back."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from schemas import RawEnvelope, decode
from tests.support.kafka import Namespace, read_topic

Occurrence = tuple[str, str, str]  # cluster, uid, resourceVersion


def configure_producer(namespace: Namespace, clusters: list[dict[str, Any]], /, **settings: Any) -> None:
    """Point the namespace's config at fake API servers, with short timeouts so faults show quickly."""
    config = yaml.safe_load(namespace.config_path.read_text())
    config["producer"] = {
        "clusters": clusters,
        "watch_timeout_seconds": 3,
        "read_timeout_seconds": 3,
        "backoff_max_seconds": 1,
        "checkpoint_interval_seconds": 0.2,
        "linger_ms": 5,
        **settings,
    }
    namespace.config_path.write_text(yaml.safe_dump(config))


def occurrence(obj: dict[str, Any], cluster: str) -> Occurrence:
    return cluster, obj["metadata"]["uid"], obj["metadata"]["resourceVersion"]


def published(namespace: Namespace, *, expected: int, timeout: float = 120.0) -> list[RawEnvelope]:
    messages = read_topic(
        namespace.bootstrap, namespace.topic("events.raw"), expected=expected, timeout=timeout
    )
    return [decode(m.value() or b"", RawEnvelope) for m in messages]


def occurrences(envelopes: list[RawEnvelope]) -> Counter[Occurrence]:
    return Counter(
        (e.cluster, e.event["metadata"]["uid"], e.event["metadata"]["resourceVersion"]) for e in envelopes
    )


def kubeconfig_entry(kubeconfig: Path, *, cluster: str, context: str) -> dict[str, Any]:
    return {"cluster": cluster, "kubeconfig": str(kubeconfig), "context": context}
