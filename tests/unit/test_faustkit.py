"""faustkit's hold on Faust's private names: a dependency upgrade that drops one fails here."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from faust.transport import by_url

from processors.faustkit import guard
from processors.faustkit.app import broker_url
from processors.faustkit.partitioner import partition_of
from processors.faustkit.transport import RewindingConsumer, Transport


def test_every_private_name_faustkit_uses_is_still_there() -> None:
    assert guard.missing_private_names() == []


def test_the_installed_versions_are_those_faustkit_was_tested_with() -> None:
    assert guard.untested_versions() == []


def test_a_missing_private_name_stops_the_worker_before_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        guard,
        "REQUIRED",
        (
            *guard.REQUIRED,
            ("faust.streams", None, "_gone"),
            ("faust.transport.consumer", "Consumer", "self._gone"),
        ),
    )
    with pytest.raises(
        RuntimeError, match=r"faust.streams:_gone, faust.transport.consumer:Consumer.self._gone"
    ):
        guard.check()


def test_the_broker_url_names_faustkit_s_transport_through_faust_s_registry() -> None:
    url = broker_url("a:9092, b:9092")
    assert url == "herald://a:9092;herald://b:9092"
    assert by_url(url.split(";")[0]) is Transport
    assert Transport.Consumer is RewindingConsumer


def test_the_remembering_partitioner_agrees_with_kafka_s_default() -> None:
    default = DefaultPartitioner()
    for partitions in (1, 3, 12):
        every = list(range(partitions))
        for index in range(500):
            key = f"prod-a/shop/Pod/web-{index}".encode()
            assert partition_of(key, every, every) == default(key, every, every)
            assert partition_of(key, every, []) == default(key, every, [])
    assert partition_of(None, [0, 1, 2], [2]) == 2
