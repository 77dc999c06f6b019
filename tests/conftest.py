"""Shared fixtures: the real broker that `make test` started, and per-test isolation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.kafka import Namespace, make_namespace

DEFAULT_BOOTSTRAP = "127.0.0.1:19092"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The broker `make test` started. A missing broker fails loudly: it is never a skip."""
    bootstrap = os.environ.get("HERALD_KAFKA_BOOTSTRAP", DEFAULT_BOOTSTRAP)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        brokers = admin.list_topics(timeout=15).brokers
    except Exception as exc:
        pytest.fail(f"no Kafka broker at {bootstrap} ({exc}); run `make test` or `compose/kafka-local start`")
    assert brokers, f"no brokers in metadata from {bootstrap}"
    return bootstrap


@pytest.fixture
def namespace(kafka_bootstrap: str, tmp_path: Path) -> Namespace:
    return make_namespace(kafka_bootstrap, tmp_path)
