"""Kafka plumbing shared by the stages: topic creation and client factories (confluent-kafka)."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public, unlisted in stubs
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from runtime.config import KafkaSettings
from runtime.errors import SetupError
from runtime.log import register_secrets
from schemas.topics import TopicSpec

log = logging.getLogger(__name__)


RDKAFKA_LOG = logging.getLogger("rdkafka")


def client_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """librdkafka properties for a confluent-kafka client, its logs routed to Python logging
    (which never shows the Kafka passwords)."""
    register_secrets(
        [s.get_secret_value() for s in (settings.sasl_password, settings.ssl_key_password) if s is not None]
    )
    return {**settings.librdkafka(), "logger": RDKAFKA_LOG, **overrides}


def committing_consumer(
    settings: KafkaSettings,
    *,
    group_id: str,
    client_id: str,
    instance_id: str | None = None,
    session_timeout_seconds: float | None = None,
) -> Consumer:
    """A group member that commits only what its owner has finished with: no auto-commit,
    committed reads only, and cooperative rebalances so a joining instance does not stop
    the others.

    With ``instance_id``, a static member (KIP-345): restarted under the same id before the
    session times out, it takes its partitions back at once, without a rebalance; killed
    and not back, it loses them after the session timeout. librdkafka's ``close()`` of a
    static member does not leave the group; ``unsubscribe()`` does, once a poll has served
    the revocation.
    """
    config: dict[str, Any] = {
        "group.id": group_id,
        "client.id": client_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "isolation.level": "read_committed",
    }
    if instance_id:
        config["group.instance.id"] = instance_id
    if session_timeout_seconds is not None:
        config["session.timeout.ms"] = int(session_timeout_seconds * 1000)
    return Consumer(client_config(settings, **config))


def acknowledged_producer(settings: KafkaSettings) -> Producer:
    """An idempotent producer whose every message waits for all in-sync replicas, sent at once:
    for records that must be durable before the input that caused them is committed."""
    return Producer(client_config(settings, **{"enable.idempotence": True, "acks": "all", "linger.ms": 0}))


def topic_config(spec: TopicSpec) -> dict[str, str]:
    if spec.compacted:
        return {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "3600000"}
    return {"cleanup.policy": "delete", "retention.ms": str(spec.retention_ms)}


VERIFIED_CONFIGS = ("cleanup.policy", "retention.ms")
"""The topic configs the pipeline relies on: compaction keeps shared state, retention bounds replay."""


@dataclass(frozen=True, slots=True)
class TopicState:
    """What the broker says about one existing topic."""

    partitions: int
    configs: dict[str, str]


@dataclass(frozen=True, slots=True)
class TopicMismatch:
    topic: str
    setting: str
    """``exists``, ``partitions`` or a topic config name."""
    actual: str | None
    expected: str


def cluster_topics(
    settings: KafkaSettings, timeout: float, *, quiet: bool = False
) -> tuple[AdminClient, dict[str, Any]]:
    """An admin client and the cluster's topic metadata.

    When the metadata cannot be fetched, librdkafka says only "broker transport failure";
    the reason (a refused password, a TLS error) reaches the error callback, so it is added
    to the message: the user sees why, not only that. ``quiet`` keeps librdkafka's own log
    of every failed connection out, for a caller that logs each failed look itself.
    """
    causes: list[KafkaError] = []
    quieted = {"log_level": 2} if quiet else {}  # syslog levels: only critical and worse
    admin = AdminClient(client_config(settings, error_cb=causes.append, **quieted))
    try:
        return admin, admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        admin.poll(1.0)  # serve the error callbacks queued while it tried
        if all(cause.code() in UNANSWERED for cause in causes):
            raise BrokerUnreachableError(settings, timeout, causes) from None
        telling = [c for c in causes if c.code() != KafkaError._TRANSPORT] or causes
        cause = f" (because: {telling[-1].str()})" if telling else ""
        raise KafkaException(f"{exc.args[0]}{cause}") from None


def reach(settings: KafkaSettings, *, timeout: float | None = None) -> None:
    """Return once a broker answers; raise :class:`BrokerUnreachableError` when none does within
    ``timeout`` (default ``kafka.admin_timeout_seconds``). A command's first step: quiet, so an
    unreachable broker is one line, not a log line for every failed connection."""
    cluster_topics(settings, settings.admin_timeout_seconds if timeout is None else timeout, quiet=True)


UNANSWERED = frozenset(
    {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE, KafkaError._TIMED_OUT}
)
"""What a client reports when no broker answered at all (not: one answered and refused)."""


class BrokerUnreachableError(SetupError):
    """``kafka: no broker answered at HOST:PORT for N s (Connection refused)``: a bounded wait
    for the metadata ended without any broker answering."""

    def __init__(self, settings: KafkaSettings, waited: float, causes: list[KafkaError]) -> None:
        self.reason = _why_unanswered(causes)
        super().__init__(
            f"kafka: no broker answered at {settings.bootstrap_servers} for {waited:g} s"
            f" ({self.reason}); check kafka.bootstrap_servers and that the broker runs"
        )


def _why_unanswered(causes: list[KafkaError]) -> str:
    """librdkafka's reason without its noise: ``127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1
    failed: Connection refused (after 0ms in state CONNECT, 1 identical error(s) suppressed)``
    is ``Connection refused``."""
    for cause in reversed(causes):
        text = cause.str()
        if cause.code() == KafkaError._RESOLVE or "resolve" in text.lower():
            return "its host name does not resolve"
        found = re.search(r"failed: (.+?)(?: \(after .*\))?$", text)
        if found:
            return found.group(1)
    return "no answer"


def describe_topics(
    settings: KafkaSettings, names: Iterable[str], *, timeout: float = 30.0
) -> dict[str, TopicState]:
    """Partition count and :data:`VERIFIED_CONFIGS` of those of ``names`` that exist."""
    admin, metadata = cluster_topics(settings, timeout)
    present = [name for name in names if name in metadata and metadata[name].error is None]
    if not present:
        return {}
    futures = admin.describe_configs(
        [ConfigResource(ResourceType.TOPIC, name) for name in present], request_timeout=timeout
    )
    states: dict[str, TopicState] = {}
    for resource, future in futures.items():
        entries = future.result(timeout)
        states[resource.name] = TopicState(
            partitions=len(metadata[resource.name].partitions),
            configs={key: entries[key].value for key in VERIFIED_CONFIGS if key in entries},
        )
    return states


DEFAULT_MESSAGE_LIMIT = 1_000_000
"""librdkafka's own ``message.max.bytes``: no client message may be larger, whatever the topic allows."""


def topic_message_limit(settings: KafkaSettings, topics: Iterable[str], *, timeout: float = 30.0) -> int:
    """The largest record every one of ``topics`` accepts: the smallest of their
    ``max.message.bytes`` (as the broker says, not assumed) and the client's own limit."""
    admin, _metadata = cluster_topics(settings, timeout)
    futures = admin.describe_configs(
        [ConfigResource(ResourceType.TOPIC, name) for name in topics], request_timeout=timeout
    )
    limits = [DEFAULT_MESSAGE_LIMIT]
    for future in futures.values():
        entry = future.result(timeout).get("max.message.bytes")
        if entry is not None and entry.value:
            limits.append(int(entry.value))
    return min(limits)


def topic_mismatches(
    name: str, spec: TopicSpec, state: TopicState | None, *, partitions: int
) -> list[TopicMismatch]:
    """How an existing topic differs from what ``ensure_topics`` would have created."""
    if state is None:
        return [TopicMismatch(name, "exists", None, "yes")]
    found = []
    if state.partitions != partitions:
        found.append(TopicMismatch(name, "partitions", str(state.partitions), str(partitions)))
    wanted = topic_config(spec)
    for key in VERIFIED_CONFIGS:
        if key in wanted and state.configs.get(key) != wanted[key]:
            found.append(TopicMismatch(name, key, state.configs.get(key), wanted[key]))
    return found


TOPIC_READY_SECONDS = 60.0


def ensure_topics(
    settings: KafkaSettings, suffixes: Iterable[str] | None = None, *, timeout: float = 30.0
) -> list[str]:
    """Create the named topics (default: all) if they do not exist yet; returns those created.

    Idempotent: an existing topic is left as it is, even if it differs (see ``herald topics verify``).
    """
    admin, topics = cluster_topics(settings, timeout)
    missing = {
        name: config for name, config in stage_topics(settings, suffixes).items() if name not in topics
    }
    return create_topics(admin, settings, missing, timeout)


def stage_topics(settings: KafkaSettings, suffixes: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """Name -> topic config of the named stage topics (default: all), as ``ensure_topics`` creates them."""
    wanted = set(suffixes) if suffixes is not None else None
    return {
        name: topic_config(spec)
        for name, spec in settings.topics.all()
        if wanted is None or spec.suffix in wanted
    }


START_BACKOFF_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
"""Pauses between looks while a process waits for Kafka: short at first (a topic created a
moment ago has its leaders within a second or so), then capped, so a long wait costs one
metadata request and one log line every few seconds."""

LONG_WAIT_SECONDS = 10.0
"""Past this, waiting is no longer ordinary start-up and is logged as a warning."""

PATIENT_METADATA_SECONDS = 10.0
"""How long one look at an unreachable broker lasts before it is logged and retried."""


class Patience:
    """Capped backoff for something a process cannot start without, with one log line per
    pause saying what it waits for and for how long so far: a silent wait looks like a hang."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger
        self._started = time.monotonic()
        self._pauses = 0

    @property
    def waited(self) -> float:
        """Seconds since the first look."""
        return time.monotonic() - self._started

    def pause(self, what: str) -> None:
        """Log ``what`` is awaited, then sleep the next backoff."""
        delay = START_BACKOFF_SECONDS[min(self._pauses, len(START_BACKOFF_SECONDS) - 1)]
        self._pauses += 1
        level = logging.WARNING if self.waited >= LONG_WAIT_SECONDS else logging.INFO
        self._log.log(level, "waiting for %s (%.0fs so far; next look in %gs)", what, self.waited, delay)
        time.sleep(delay)


def await_topics(
    settings: KafkaSettings,
    configs: Mapping[str, dict[str, str]],
    *,
    deadline: float | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Create those of ``configs`` (name -> topic config) that are missing, then return once
    every partition of each has a leader; returns the names created here.

    Without a ``deadline`` this is how a process starts, so that the broker, the topics and
    the processes can come up in any order: an unreachable broker, a topic it may not create
    (it waits for someone else to create it) and a partition without a leader are all waited
    out. With one, the first failure is raised, and missing leaders at the deadline too.
    """
    patient = deadline is None
    patience = Patience()
    created: list[str] = []
    fresh: set[str] = set()  # absent at some look: being created, here or elsewhere
    while True:
        refused: dict[str, str] = {}
        try:
            admin, topics = (
                cluster_topics(settings, min(timeout, PATIENT_METADATA_SECONDS), quiet=True)
                if patient
                else cluster_topics(settings, timeout)
            )
            absent = {name: config for name, config in configs.items() if name not in topics}
            fresh.update(absent)
            if absent:
                created += create_topics(
                    admin, settings, absent, timeout, refused=refused if patient else None
                )
                topics = admin.list_topics(timeout=timeout).topics
        except (KafkaException, BrokerUnreachableError) as exc:
            if not patient:
                raise
            reason = _reason(exc) if isinstance(exc, KafkaException) else f"no broker answered ({exc.reason})"
            patience.pause(f"Kafka at {settings.bootstrap_servers}: {reason}")
            continue
        # One just created must be whole (Faust compares a changelog's partitions with its
        # source's); one that was there already is used as it is (see ``herald topics verify``).
        expected = {name: settings.partitions if name in fresh else 1 for name in configs}
        waiting = [
            _unready(
                name, topics.get(name), expected[name], refused=refused.get(name), created=name in created
            )
            for name in configs
            if not has_leaders(topics.get(name), expected[name])
        ]
        if not waiting:
            if patience.waited > 1.0:
                log.info("topics ready after %.0fs: %s", patience.waited, ", ".join(configs))
            return created
        if deadline is not None and time.monotonic() > deadline:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"topics not ready: {'; '.join(waiting)}"))
        patience.pause(f"topics: {'; '.join(waiting)}")


def _unready(name: str, topic: Any, partitions: int, *, refused: str | None, created: bool) -> str:
    """Why a topic is not usable yet, for the waiting log line."""
    if topic is None and created:
        return f"{name} created, not in the metadata yet"
    if topic is None:
        return f"{name} missing" + (f" (cannot create it: {refused})" if refused else "")
    if topic.error is not None:
        return f"{name}: {topic.error.str()}"
    if len(topic.partitions) < partitions:
        return f"{name} has {len(topic.partitions)} of {partitions} partitions"
    leaderless = sorted(p.id for p in topic.partitions.values() if p.leader < 0 or p.error is not None)
    return f"{name} partitions {leaderless} without a leader"


def _reason(exc: KafkaException) -> str:
    error = exc.args[0]
    return error.str() if isinstance(error, KafkaError) else str(error)


def has_leaders(topic: Any, partitions: int) -> bool:
    """Whether this topic's metadata lists ``partitions`` partitions, each with a leader."""
    if topic is None or topic.error is not None or len(topic.partitions) < partitions:
        return False
    return all(p.leader >= 0 and p.error is None for p in topic.partitions.values())


def create_topics(
    admin: AdminClient,
    settings: KafkaSettings,
    configs: dict[str, dict[str, str]],
    timeout: float,
    *,
    refused: dict[str, str] | None = None,
) -> list[str]:
    """Create these topics (name -> topic config) with the configured partitions and replicas;
    one another process created meanwhile is fine. Returns those created here.

    With ``refused``, a topic the broker will not create (not allowed, too few brokers yet)
    is noted there, name -> why, instead of raised: the caller waits for it to appear.
    """
    created: list[str] = []
    if not configs:
        return created
    new = [
        NewTopic(
            name,
            num_partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            config=config,
        )
        for name, config in configs.items()
    ]
    for name, future in admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout).items():
        try:
            future.result()
            log.info("created topic %s", name)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                continue
            if refused is None:
                raise
            refused[name] = _reason(exc)
    return created


RecordHandler = Callable[[bytes, bytes | None], None]
"""Called with each record's key and value (None = tombstone), in offset order per partition."""


NOT_YET_LEADER = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._TIMED_OUT,
    }
)
"""Refusals a partition created a moment ago may answer with before it is served."""


def not_yet_served(exc: KafkaException) -> bool:
    """Whether a request failed only because its partition is not served yet (or not now):
    worth retrying, not a reason to stop."""
    error = exc.args[0]
    return isinstance(error, KafkaError) and (error.retriable() or error.code() in NOT_YET_LEADER)


class CompactedTopicReader:
    """Reads a compacted topic whole, from the beginning, then follows it: every process's
    view of shared state (silences, the notification log, inhibiting incidents). With
    ``from_end``, it follows only what is written after it started (``herald tail``).

    Partitions are assigned, never subscribed, so every reader sees every partition and no
    consumer group is involved. :meth:`wait_caught_up` blocks until everything that was in
    the topic when the reader started has been handed to ``on_record``.
    """

    def __init__(
        self, settings: KafkaSettings, topic: str, on_record: RecordHandler, *, from_end: bool = False
    ) -> None:
        self._settings = settings
        self._topic = topic
        self._on_record = on_record
        self._from_end = from_end
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"read-{topic}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    @property
    def failure(self) -> BaseException | None:
        """Why the reader stopped on its own, if it did."""
        return self._failure

    @property
    def topic(self) -> str:
        return self._topic

    def wait_caught_up(self, timeout: float) -> None:
        if not self._caught_up.wait(timeout):
            raise TimeoutError(f"{self._topic}: not read to its end within {timeout:.0f}s")
        if self._failure is not None:
            raise RuntimeError(f"{self._topic}: reader failed: {self._failure}") from self._failure

    def _run(self) -> None:
        consumer = Consumer(
            client_config(
                self._settings,
                **{
                    # Never used to join a group or commit: an id is required all the same.
                    "group.id": f"herald-reader-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                },
            )
        )
        try:
            remaining = self._assign_all(consumer)
            while not self._stop.is_set():
                message = consumer.poll(0.2)
                if message is None:
                    self._note_progress(consumer, remaining)
                    continue
                error = message.error()
                if error is not None:
                    if error.fatal():
                        raise KafkaException(error)
                    log.warning("%s: %s", self._topic, error)
                    continue
                key = message.key()
                if key is not None:
                    self._on_record(key, message.value())
                if remaining:
                    self._note_progress(consumer, remaining)
        except BaseException as exc:
            log.exception("%s: reader stopped", self._topic)
            self._failure = exc
            self._caught_up.set()
        finally:
            consumer.close()

    def _assign_all(self, consumer: Consumer) -> dict[int, int]:
        """Assign every partition from its start; returns the end offset still to reach per partition."""
        partitions = self._partitions(consumer)
        if self._from_end:
            consumer.assign([TopicPartition(self._topic, p, OFFSET_END) for p in partitions])
            self._caught_up.set()
            return {}
        remaining: dict[int, int] = {}
        for partition in partitions:
            low, high = self._watermarks(consumer, partition)
            if high > low:
                remaining[partition] = high
        consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions])
        self._note_progress(consumer, remaining)
        return remaining

    def _watermarks(self, consumer: Consumer, partition: int) -> tuple[int, int]:
        """A just-created partition can have a leader in the metadata before that broker
        answers as its leader: retry the transient refusals until the topic is ready."""
        deadline = time.monotonic() + TOPIC_READY_SECONDS
        while True:
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(self._topic, partition), timeout=30)
                return int(low), int(high)
            except KafkaException as exc:
                if not not_yet_served(exc) or time.monotonic() > deadline or self._stop.is_set():
                    raise
                log.info("%s[%d]: %s; retrying", self._topic, partition, _reason(exc))
                time.sleep(0.2)

    def _partitions(self, consumer: Consumer) -> list[int]:
        """The topic's partitions once every one has a leader: a topic created a moment ago
        may not be in the metadata yet, and reading none of it would look like an empty log."""
        deadline = time.monotonic() + TOPIC_READY_SECONDS
        while True:
            topic = consumer.list_topics(self._topic, timeout=30).topics.get(self._topic)
            if has_leaders(topic, partitions=1):
                return sorted(topic.partitions)
            if time.monotonic() > deadline or self._stop.is_set():
                raise RuntimeError(
                    f"{self._topic}: no partitions with a leader after {TOPIC_READY_SECONDS:.0f}s"
                )
            time.sleep(0.5)

    def _note_progress(self, consumer: Consumer, remaining: dict[int, int]) -> None:
        """Positions, not offsets seen: control records (transaction markers) are never delivered."""
        if remaining:
            for position in consumer.position([TopicPartition(self._topic, p) for p in remaining]):
                if position.offset >= remaining[position.partition]:
                    del remaining[position.partition]
        if not remaining:
            self._caught_up.set()
