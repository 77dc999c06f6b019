"""``herald replay`` and ``herald simulate``: event streams without a cluster."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from producer.file_source import BadLine, read_events
from producer.pacing import Timed, publish_paced
from producer.publisher import Publisher
from producer.simulate import simulate, to_envelope
from producer.watch import last_occurrence
from runtime.config import HeraldConfig, ProducerSettings
from runtime.kafka import await_topics, stage_topics
from schemas import QuarantineRecord

log = logging.getLogger(__name__)


def timed_file(
    path: Path, settings: ProducerSettings, publisher: Publisher, *, paced: bool
) -> Iterator[Timed]:
    """Envelopes from a file, due at their events' relative times (all at 0 unless ``paced``);
    bad lines are quarantined on the way."""
    first: datetime | None = None
    lines = read_events(
        path, cluster=settings.default_cluster, producer_id=settings.producer_id, budget=publisher.budget
    )
    for item in lines:
        if isinstance(item, BadLine):
            log.error("%s:%d: quarantined: %s", path, item.line, item.error)
            record = QuarantineRecord.of(
                stage="producer.replay",
                reason=item.error.reason,
                error=item.error.detail,
                source_topic=str(path),
                partition=-1,
                offset=item.line,
                payload=item.raw,
            )
            publisher.quarantine(record, key=f"{path}:{item.line}")
            continue
        if item.cuts:
            log.warning(
                "%s:%d: cut to fit %d bytes: %s",
                path,
                item.line,
                publisher.budget,
                ", ".join(f"{c['field'][:100]} ({c['action']}, {c['bytes']} bytes)" for c in item.cuts[:5]),
            )
        if not paced:
            yield Timed(0.0, item.message)
            continue
        when = last_occurrence(item.event) or item.observed_at
        first = first or when
        yield Timed(max(0.0, (when - first).total_seconds()), item.message)


def run_replay(
    config: HeraldConfig, settings: ProducerSettings, path: Path, *, speed: float, quiet: bool = False
) -> int:
    """Publish every event in ``path`` (at ``speed``; 0 = at once), wait until Kafka has them all.

    ``herald producer --events-file`` is this at full speed, without the progress bar.
    """
    await_topics(config.kafka, stage_topics(config.kafka, ["events.raw", "events.invalid"]))
    publisher = Publisher(config.kafka, settings).start()
    with path.open("rb") as handle:
        total = sum(1 for line in handle if line.strip())
    published = publish_paced(
        publisher,
        timed_file(path, settings, publisher, paced=speed > 0),
        speed=speed,
        total=total,
        label=f"replay {path.name}",
        quiet=quiet,
    )
    remaining = publisher.close(120)
    stats = publisher.stats
    log.info("replayed %d (quarantined %d), %d not acknowledged", published, stats.quarantined, remaining)
    return 0 if remaining == 0 and stats.failed == 0 else 1


def simulated(
    *,
    clusters: Sequence[str],
    rate: float,
    duration: float | None,
    seed: int,
    scenarios: Sequence[str] | None,
) -> Iterator[Timed]:
    for event in simulate(clusters=clusters, rate=rate, duration=duration, seed=seed, scenarios=scenarios):
        yield Timed(event.at, to_envelope(event, observed_at=datetime.now(UTC)).to_message())


def run_simulate(
    config: HeraldConfig,
    settings: ProducerSettings | None,
    *,
    clusters: Sequence[str],
    rate: float,
    duration: float | None,
    seed: int,
    scenarios: Sequence[str] | None,
    speed: float,
    output: Path | None,
) -> int:
    def stream() -> Iterator[Timed]:
        return simulated(clusters=clusters, rate=rate, duration=duration, seed=seed, scenarios=scenarios)

    # The generator is deterministic and cheap: count a bounded run exactly for the progress bar.
    total = sum(1 for _ in stream()) if duration and rate * duration <= 1_000_000 else None
    if output is not None:
        with output.open("wb") as handle:
            for item in stream():
                handle.write(item.message.value + b"\n")
        return 0
    await_topics(config.kafka, stage_topics(config.kafka, ["events.raw", "events.invalid"]))
    publisher = Publisher(config.kafka, settings or ProducerSettings(cluster=clusters[0])).start()
    publish_paced(publisher, stream(), speed=speed, total=total, label="simulate")
    remaining = publisher.close(120)
    return 0 if remaining == 0 and publisher.stats.failed == 0 else 1
