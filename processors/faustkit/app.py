"""The Faust app of the processors, its tables and their changelogs, configured in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import faust

from processors.faustkit.credentials import broker_credentials
from processors.faustkit.partitioner import partition_of
from processors.faustkit.transport import SCHEME
from runtime.config import HeraldConfig, KafkaSettings
from runtime.kafka import await_topics

ROCKSDB_OPTIONS: dict[str, int] = {
    "write_buffer_size": 4 * 2**20,
    "max_write_buffer_number": 2,
    "block_cache_size": 8 * 2**20,
    "block_cache_compressed_size": 2 * 2**20,
}
"""Per table partition (each is its own RocksDB). Faust's defaults, 3 write buffers of 64 MB and
a 2 GB block cache per partition, took a worker past 700 MB at 365,000 seen ids; the dedup
table is written once per occurrence and read for keys that are mostly absent (the bloom
filters answer those), so small buffers cost little."""


def broker_url(bootstrap_servers: str) -> str:
    """Faust's broker URL, naming faustkit's transport (see :mod:`processors.faustkit.transport`)."""
    servers = (server.strip() for server in bootstrap_servers.split(","))
    return ";".join(f"{SCHEME}://{server}" for server in servers if server)


CHANGELOG_BUFFER_MESSAGES = 20_000
"""Table changes Faust may hold for its producer before it pauses the streams to drain them.
Faust's 100 paused the worker after every batch of 500 raw messages (each writes its dedup
entry): under a 2,000 events/s storm it fell seconds behind at 0.6 of a core. They are
flushed before every offset commit all the same."""


def new_app(config: HeraldConfig) -> faust.App:
    app = _configured_app(config)
    app.producer.buffer.max_messages = CHANGELOG_BUFFER_MESSAGES
    return app


def _configured_app(config: HeraldConfig) -> faust.App:
    kafka, settings = config.kafka, config.processor
    return faust.App(
        f"{kafka.topic_prefix}{settings.app_id}",
        broker=broker_url(kafka.bootstrap_servers),
        broker_credentials=broker_credentials(kafka),
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        # Fuller batches, fewer produce requests: 50 ms instead of 10 took the bench worker
        # from about 2,900 to 3,300 events/s. Alerts wait out group_wait (seconds) anyway.
        producer_linger=0.05,
        producer_max_batch_size=1_000_000,
        producer_partitioner=partition_of,
        processing_guarantee="at_least_once",  # exactness comes from the raw offsets (stages)
        consumer_auto_offset_reset="earliest",
        # Each worker keeps a standby copy of another's tables, so a survivor takes over a dead
        # worker's partitions without restoring them first.
        table_standby_replicas=1,
        # A static member (a StatefulSet pod's name): a worker restarted under its id within the
        # session timeout takes its partitions back without a rebalance; one not back by then
        # has them moved to the survivors. (aiokafka never leaves the group for a static member,
        # so a worker stopped by SIGTERM also holds its partitions until then.)
        consumer_group_instance_id=settings.instance_id,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=3.0,
        web_enabled=settings.web_port is not None,
        web_port=settings.web_port or 6066,
        web_host="127.0.0.1",
        key_serializer="raw",
        value_serializer="raw",
    )


def table(app: faust.App, name: str, *, partitions: int, on_recover: Callable[[], Awaitable[None]]) -> Any:
    """A changelog-backed table of bytes by bytes, co-partitioned with the stream that writes it.

    ``on_recover`` runs each time a rebalance has left the table whole (restored or not), before
    the stream resumes: where an index of the table's contents is rebuilt.
    """
    created = app.Table(
        name,
        default=None,
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        options=dict(ROCKSDB_OPTIONS),  # each its own: Faust pops keys from the dict it is given
    )
    created.on_recover(on_recover)
    return created


def ensure_changelogs(
    kafka: KafkaSettings, names: Iterable[str], *, deadline: float | None = None
) -> list[str]:
    """Create the tables' changelogs (compacted, one partition per source partition) unless present,
    and return once every partition has a leader; returns those created.

    Faust declares them itself, but on a table's first write it compares the changelog's
    partition count in the metadata with its source topic's; one declared a moment ago may not
    be there whole yet, and the write fails (PartitionsMismatch), restarting the agent.
    """
    return await_topics(kafka, {name: {"cleanup.policy": "compact"} for name in names}, deadline=deadline)


def changelogs_of(app: faust.App) -> list[str]:
    return [table.changelog_topic_name for table in app.tables.values()]
