"""Topic names, partition keys and retention: one table, so docs, admin and code agree."""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    suffix: str
    key: str
    compacted: bool
    retention_ms: int | None
    purpose: str


TOPIC_SPECS: tuple[TopicSpec, ...] = (
    TopicSpec(
        "events.raw",
        "cluster/namespace/kind/name of the involved object",
        False,
        3 * DAY_MS,
        "RawEnvelope from every producer (many clusters fan in); skip the processors' gap probes "
        "(empty, header herald-gap-probe)",
    ),
    TopicSpec(
        "events.clean",
        "cluster/namespace/kind/name of the involved object",
        False,
        7 * DAY_MS,
        "CleanEvent, one per occurrence, for processors and analytics consumers",
    ),
    TopicSpec(
        "events.grouped",
        "incident fingerprint",
        False,
        1 * DAY_MS,
        "internal: occurrences and clock ticks repartitioned by incident, for aggregation (and gap probes)",
    ),
    TopicSpec(
        "events.invalid",
        "source topic/partition/offset",
        False,
        14 * DAY_MS,
        "QuarantineRecord for input that failed validation",
    ),
    TopicSpec(
        "alerts", "incident fingerprint", False, 7 * DAY_MS, "Incident updates, ordered per fingerprint"
    ),
    TopicSpec(
        "alerts.deadletter",
        "receiver/fingerprint",
        False,
        30 * DAY_MS,
        "DeadLetter for deliveries a receiver refused for good",
    ),
    TopicSpec(
        "inhibitors",
        "incident fingerprint",
        True,
        None,
        "firing incidents that match an inhibition rule's source; read whole by every worker",
    ),
    TopicSpec("silences", "silence id", True, None, "Silence, latest record per id wins"),
    TopicSpec(
        "notify.log",
        "receiver/fingerprint",
        True,
        None,
        "last delivered incident version per receiver, read at notifier start",
    ),
    TopicSpec(
        "producer.checkpoints",
        "cluster/api/scope of the watch",
        True,
        None,
        "resourceVersion up to which every occurrence was delivered: the resume point",
    ),
)


@dataclass(frozen=True, slots=True)
class Topics:
    """Concrete topic names under a prefix (default ``herald.``), so tests and tenants can isolate."""

    prefix: str = "herald."

    def name(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"

    @property
    def raw(self) -> str:
        return self.name("events.raw")

    @property
    def clean(self) -> str:
        return self.name("events.clean")

    @property
    def grouped(self) -> str:
        return self.name("events.grouped")

    @property
    def invalid(self) -> str:
        return self.name("events.invalid")

    @property
    def alerts(self) -> str:
        return self.name("alerts")

    @property
    def deadletter(self) -> str:
        return self.name("alerts.deadletter")

    @property
    def inhibitors(self) -> str:
        return self.name("inhibitors")

    @property
    def silences(self) -> str:
        return self.name("silences")

    @property
    def notify_log(self) -> str:
        return self.name("notify.log")

    @property
    def checkpoints(self) -> str:
        return self.name("producer.checkpoints")

    def all(self) -> list[tuple[str, TopicSpec]]:
        return [(self.name(spec.suffix), spec) for spec in TOPIC_SPECS]
