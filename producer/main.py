"""``herald producer``: publish a cluster's events to the raw topic."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType

from producer.file_source import BadLine, read_events
from producer.publisher import Publisher
from runtime.config import HeraldConfig, ProducerSettings
from runtime.kafka import ensure_topics
from schemas import QuarantineRecord

log = logging.getLogger(__name__)


def run_from_file(config: HeraldConfig, settings: ProducerSettings, path: Path) -> int:
    """Publish every event in ``path``, wait until Kafka has them all, and report."""
    ensure_topics(config.kafka, ["events.raw", "events.invalid"])
    publisher = Publisher(config.kafka, settings)
    cluster = settings.default_cluster
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        log.info("received signal %d: flushing and stopping", signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for item in read_events(path, cluster=cluster, producer_id=settings.producer_id):
        if stopping:
            break
        if isinstance(item, BadLine):
            log.error("%s:%d: %s", path, item.line, item.error)
            record = QuarantineRecord.of(
                stage="producer.file",
                reason=item.error.reason,
                error=item.error.detail,
                source_topic=str(path),
                partition=-1,
                offset=item.line,
                payload=item.raw,
            )
            publisher.quarantine(record, key=f"{path}:{item.line}")
        else:
            publisher.publish(item.message)
    remaining = publisher.flush(timeout=120.0)
    stats = publisher.stats
    log.info(
        "published %d, delivered %d, failed %d, quarantined %d",
        stats.published,
        stats.delivered,
        stats.failed,
        stats.quarantined,
    )
    return 0 if remaining == 0 and stats.failed == 0 else 1
