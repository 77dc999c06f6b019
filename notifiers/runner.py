"""The delivery loop of one receiver: consume incidents, deliver, then commit.

One consumer group per receiver (``<prefix>notifier.<receiver>``), so a slow or dead
receiver never delays another, and more instances of one receiver share its partitions.
An offset is committed only after its incident was delivered or dead-lettered: a crash
can repeat at most the message in flight. While a delivery waits to be retried, the
consumer keeps polling with its partitions paused, so it stays in its group without
holding up a rebalance.

A batch reads what is already waiting on its partitions (a backlog after a restart) before
anything is sent, so of several versions of one incident only the newest goes out; the
notification log keeps an older version from ever following a newer one.

Each replica is a static group member (``notifier.instance_id``, the pod's name): killed
and restarted in its pod, it takes its partitions back at once instead of after the
session timeout; stopped by SIGTERM, it leaves the group so they move at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from pydantic import BaseModel

from notifiers.board import DUE, SUPERSEDED, Board
from notifiers.dispatch import Action, decide
from notifiers.errors import PermanentError, RetryableError
from notifiers.metrics import (
    CONSUMER_LAG,
    DEAD_LETTERS,
    DECISIONS,
    DELIVERIES,
    DELIVERY_LATENCY,
    DIGEST_MERGES,
    RETRIES,
)
from notifiers.notification import Notification
from notifiers.pacing import Budget
from notifiers.receivers import REGISTRY, Receiver, ReceiverFactory
from notifiers.retry import backoff_delay
from notifiers.routing import RouteTree
from notifiers.sinks import KUBE_EVENTER, KubeEventerEntry, SinkError
from notifiers.state import NotificationLog, SilenceBook, log_key
from notifiers.templating import BrokenTemplateError, Renderer
from runtime.config import ConfigError, ConfigIssue, HeraldConfig, ReceiverEntry
from runtime.kafka import CompactedTopicReader, acknowledged_producer, committing_consumer
from schemas import (
    DeadLetter,
    Incident,
    NotifyLogEntry,
    Outcome,
    QuarantineRecord,
    SchemaError,
    decode,
    encode,
)
from schemas.base import utc_now
from schemas.matchers import Matcher, match_all

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
IDLE_POLL_SECONDS = 0.2
BATCH_MAX = 500
BACKLOG_SECONDS = 10.0
BACKLOG_INCIDENTS = 5_000
"""Bounds on reading a backlog into one batch (its memory is per incident, not per message):
beyond them, the rest comes in the next batch, and an incident's versions split across the
two may both be sent (in order)."""
LAG_REPORT_SECONDS = 15.0
LEAVE_SECONDS = 5.0
"""How long leaving the group may take before the consumer is closed regardless."""


def build_receiver(config: HeraldConfig, name: str) -> tuple[Receiver, tuple[Matcher, ...]]:
    """The named receiver, and the filters an incident must pass to reach it (a kube-eventer
    sink's; none for other receivers)."""
    index, entry = config.receiver(name)
    filters: tuple[Matcher, ...] = ()
    factory = REGISTRY.get(entry.type)
    if entry.type == KUBE_EVENTER:
        factory, settings, filters = _sink_receiver(config, index, entry)
    elif factory is None:
        known = ", ".join(sorted([*REGISTRY, KUBE_EVENTER]))
        raise ConfigError(
            [
                ConfigIssue(
                    config.source_file,
                    ("receivers", index, "type"),
                    None,
                    f"unknown type {entry.type!r} ({known})",
                )
            ]
        )
    else:
        settings = config.validate_section(("receivers", index), factory.config_model, entry.settings())
    language, timezone = config.locale(name)
    try:
        renderer = Renderer(
            timezone=timezone,
            templates_dir=config.notifier.templates_dir,
            language=language,
            link_template=config.notifier.link_template,
        )
    except BrokenTemplateError as exc:  # the link template, compiled here: a mistake in the file
        raise config.error_at(
            ("notifier", "link_template"), f"the link template{exc.where}: {exc.reason}"
        ) from None
    return factory(settings, renderer), filters


def _sink_receiver(
    config: HeraldConfig, index: int, entry: ReceiverEntry
) -> tuple[ReceiverFactory, BaseModel, tuple[Matcher, ...]]:
    """A kube-eventer sink URI's receiver settings, validated by that receiver's model with
    errors located at the ``sink`` key and naming the sink's parameters, and its filters."""
    sink = config.validate_section(("receivers", index), KubeEventerEntry, entry.settings())
    at = ("receivers", index, "sink")
    try:
        spec = sink.resolved(config.base_dir)
    except SinkError as exc:
        key = "custom_body_manifest" if sink.custom_body_manifest is not None else "sink"
        raise config.error_at(("receivers", index, key), str(exc)) from None
    factory = REGISTRY[spec.type]
    try:
        settings = config.validate_section(
            at, factory.config_model, {"name": entry.name, "type": spec.type, **spec.settings}
        )
    except ConfigError as exc:
        raise spec.located(exc, at) from None
    return factory, settings, tuple(spec.matchers)


def position(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed message (always set on those)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("not a consumed message")
    return topic, partition, offset


@dataclass(frozen=True, slots=True)
class Attempts:
    """How a delivery ended: after how many attempts, and why it failed ('' when delivered)."""

    attempts: int
    failure: str = ""
    seconds: float = 0.0
    """How long the last attempt took."""


TITLE_CHARS = 120
"""An incident's title is cut to this in a log line's text (JSON logs carry it whole)."""
QUIET_DECISIONS = frozenset({"already-handled"})
"""Decisions logged at DEBUG: a replay after a restart or rebalance repeats every one of them."""


def _quoted(title: str) -> str:
    """A title for a log line: quoted and shortened. Control characters are left to the
    formatter, which escapes them (the title comes from Event text, which any tenant writes)."""
    short = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return '"' + short.replace("\\", "\\\\").replace('"', '\\"') + '"'


def outcome_line(
    outcome: str, receiver: str, incident: Incident, *, digest: int = 1, detail: str = ""
) -> str:
    """The text of a delivery log line: ``delivered wecom 3f2a9c0b1d4e v3 firing "Crash
    loop in shop/web" (digest of 4) in 182 ms``; ``detail`` is what follows the title."""
    text = (
        f"{outcome} {receiver} {incident.fingerprint[:12]} v{incident.version} "
        f"{incident.status.value} {_quoted(incident.title)}"
    )
    if digest > 1:
        text += f" (digest of {digest})"
    return f"{text} {detail}" if detail else text


@dataclass
class RunStats:
    delivered: int = 0
    dead_lettered: int = 0
    quarantined: int = 0
    retries: int = 0
    digests: int = 0
    revoked: set[tuple[str, int]] = field(default_factory=set)


@dataclass
class Batch:
    """Consumed messages handled together: decided one by one, delivered paced, committed at once."""

    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per partition, the offset to commit once the batch is done."""
    started: float = field(default_factory=time.monotonic)
    due: dict[str, Incident] = field(default_factory=dict)
    """Updates to deliver by fingerprint, in arrival order; a later version supersedes an earlier."""
    decided: dict[str, NotifyLogEntry] = field(default_factory=dict)
    """What this batch decided so far, consulted before the log (which it has not reached yet)."""
    records: list[NotifyLogEntry] = field(default_factory=list)

    def add(self, message: Message) -> None:
        topic, partition, offset = position(message)
        self.next_offsets[(topic, partition)] = max(offset + 1, self.next_offsets.get((topic, partition), 0))

    @property
    def partitions(self) -> set[tuple[str, int]]:
        return set(self.next_offsets)


class Notifier:
    def __init__(
        self, config: HeraldConfig, receiver: Receiver, *, filters: tuple[Matcher, ...] = ()
    ) -> None:
        self._config = config
        self._receiver = receiver
        self._filters = filters
        self._name = receiver.name
        self._topics = config.kafka.topics
        self._budget_seconds = config.notifier.retry_budget_seconds
        self._rate = Budget(receiver.rate_limits)
        self._routes = RouteTree.from_config(config)
        self._log = NotificationLog()
        self._silences = SilenceBook()
        self.board = Board()
        self._owned: set[tuple[str, int]] = set()
        """Kept from the (incremental) rebalance callbacks for /readyz: asking the consumer from
        the HTTP thread waits for the polling thread to let go of it, seconds at a time."""
        self._readers = [
            CompactedTopicReader(config.kafka, self._topics.notify_log, self._log.on_record),
            CompactedTopicReader(config.kafka, self._topics.silences, self._silences.on_record),
        ]
        self._stop = asyncio.Event()
        self._ready = threading.Event()
        self._lag_checked = 0.0
        self.stats = RunStats()
        self.group_id = f"{config.kafka.topic_prefix}notifier.{receiver.name}"
        self.instance_id = config.notifier.instance_id
        self._consumer = committing_consumer(
            config.kafka,
            group_id=self.group_id,
            client_id=f"herald-notifier-{receiver.name}",
            instance_id=self.instance_id,
            session_timeout_seconds=config.notifier.session_timeout_seconds,
        )
        self._producer = acknowledged_producer(config.kafka)

    @property
    def silences(self) -> SilenceBook:
        return self._silences

    def ready(self) -> tuple[bool, str]:
        """Ready once the shared state is read and the group has given us partitions, while
        the readers of that state go on."""
        alive, why = self.live()
        if not alive:
            return False, why
        if not self._ready.is_set():
            return False, "reading the notification log and silences"
        if not self._owned:
            return False, "no partitions assigned"
        return True, ""

    def live(self) -> tuple[bool, str]:
        """Unhealthy once a reader of the notification log or the silences has stopped: its
        view no longer follows the topic, so decisions would go wrong; a restart reads it anew."""
        stopped = [f"{reader.topic}: {reader.failure}" for reader in self._readers if reader.failure]
        return (False, "reader stopped: " + "; ".join(stopped)) if stopped else (True, "")

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for reader in self._readers:
            reader.start()
        try:
            for reader in self._readers:
                # The log must be whole before the first decision, or a restart would resend.
                await loop.run_in_executor(None, reader.wait_caught_up, 120.0)
            self._ready.set()
            self._consumer.subscribe(
                [self._topics.alerts], on_revoke=self._on_revoke, on_assign=self._on_assign
            )
            log.info(
                "notifier %s (%s -> %s) consuming %s as %s",
                self._name,
                self._receiver.type,
                self._receiver.target,
                self._topics.alerts,
                f"static member {self.instance_id}" if self.instance_id else "a dynamic member",
            )
            while not self._stop.is_set():
                messages = await loop.run_in_executor(None, self._poll_batch)
                if messages:
                    batch = Batch()
                    while messages:
                        self._take(batch, messages)
                        messages = await self._more_backlog(batch)
                    await self._handle(batch)
                self._report_lag()
        finally:
            for reader in self._readers:
                reader.stop()
            await loop.run_in_executor(None, self._leave_group)
            self._producer.flush(30)
            await self._receiver.aclose()

    def _leave_group(self) -> None:
        """Leave the group, then close, so the partitions move to another replica at once.

        A static member's ``close()`` alone never sends LeaveGroup (KIP-345: it is expected
        back under its id), so its partitions would wait out the session timeout.
        ``unsubscribe()`` does send it, once polls have served the revocation; librdkafka
        then forgets the member id, which is what is waited for.
        """
        try:
            if self._consumer.memberid():
                self._consumer.unsubscribe()
                deadline = time.monotonic() + LEAVE_SECONDS
                while self._consumer.memberid() and time.monotonic() < deadline:
                    self._consumer.poll(0.1)  # what it fetched is dropped: the next owner reads it
        except (KafkaException, RuntimeError) as exc:  # fenced or failed: close it all the same
            log.warning("%s: could not leave the consumer group: %s", self._name, exc)
        finally:
            self._consumer.close()

    def _poll_batch(self) -> list[Message]:
        """One message, waiting up to POLL_SECONDS, then whatever else is already fetched."""
        first = self._consumer.poll(POLL_SECONDS)
        if first is None:
            return []
        return self._checked([first, *self._consumer.consume(num_messages=BATCH_MAX - 1, timeout=0)])

    def _checked(self, polled: list[Message]) -> list[Message]:
        """The messages, consumer errors left out (logged; a fatal one raises)."""
        batch = []
        for message in polled:
            error = message.error()
            if error is None:
                batch.append(message)
            else:
                self._log_consumer_error(error)
        return batch

    def _take(self, batch: Batch, messages: list[Message]) -> None:
        """Decide each message into the batch, in offset order."""
        now = utc_now()
        for message in messages:
            batch.add(message)
            self.stats.revoked.discard(position(message)[:2])
            try:
                incident = decode(message.value() or b"", Incident)
            except SchemaError as exc:
                self._quarantine(message, exc)
                continue
            self._decide(batch, incident, now)

    async def _more_backlog(self, batch: Batch) -> list[Message]:
        """More of the batch's partitions, while the consumer knows they hold more than it
        has read (a backlog): what is waiting is decided together, so a newer version of an
        incident supersedes an older one before either is sent. Empty when caught up."""
        if (
            self._stop.is_set()
            or batch.partitions & self.stats.revoked
            or time.monotonic() - batch.started > BACKLOG_SECONDS
            or len(batch.decided) >= BACKLOG_INCIDENTS
            or not self._behind(batch.partitions)
        ):
            return []
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._poll_batch)

    def _behind(self, partitions: set[tuple[str, int]]) -> bool:
        """Whether the last fetch of any of these partitions showed messages past our position
        (local state only: no broker round trip)."""
        for tp in self._consumer.position([TopicPartition(t, p) for t, p in partitions]):
            _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if tp.error is None and tp.offset >= 0 and high > tp.offset:
                return True
        return False

    async def _handle(self, batch: Batch) -> None:
        self._write_log(batch.records)
        if not await self._deliver_due(batch):
            return  # partition revoked or stopping: its next owner delivers the rest; do not commit
        self._commit(batch)

    def _decide(self, batch: Batch, incident: Incident, now: datetime) -> None:
        fingerprint = incident.fingerprint
        # A kube-eventer sink's filters narrow what the routing tree sends this receiver.
        routed = match_all(self._filters, incident.labels)
        decision = decide(
            incident,
            route=self._routes.match_for(incident.labels, self._name) if routed else None,
            logged=batch.decided.get(fingerprint) or self._log.entry(self._name, fingerprint),
            silence=self._silences.silencing(incident.labels, now),
            now=now,
        )
        DECISIONS.labels(self._name, decision.reason).inc()
        shown = DUE if decision.action is Action.DELIVER else decision.reason
        self.board.seen(incident, shown, at=now, silence_id=decision.silence_id)
        if decision.action is not Action.DELIVER:
            self._log_decision(decision.reason, incident, silence_id=decision.silence_id)
        if decision.action is Action.SKIP:
            return
        superseded = batch.due.pop(fingerprint, None)  # superseded by this later version
        if superseded is not None:
            self.board.settled(fingerprint, superseded.version, SUPERSEDED, at=now)
            self._log_decision(SUPERSEDED, superseded, by_version=incident.version)
        if decision.action is Action.DELIVER:
            batch.due[fingerprint] = incident
            batch.decided[fingerprint] = self._log.decided(self._name, incident, Outcome.DELIVERED)
            return
        assert decision.outcome is not None
        entry = self._log.decided(self._name, incident, decision.outcome, silence_id=decision.silence_id)
        batch.decided[fingerprint] = entry
        batch.records.append(entry)

    def _fields(self, outcome: str, incident: Incident, **more: object) -> dict[str, object]:
        """A delivery log line's fields (``extra=``: JSON logs' keys); ``target`` is redacted."""
        return {
            "receiver": self._name,
            "receiver_type": self._receiver.type,
            "target": self._receiver.target,
            "outcome": outcome,
            "incident": incident.fingerprint,
            "cluster": incident.cluster,
            "title": incident.title,
            "version": incident.version,
            "status": incident.status.value,
            **more,
        }

    def _log_decision(
        self, reason: str, incident: Incident, *, silence_id: str | None = None, by_version: int | None = None
    ) -> None:
        """One line for an update this receiver does not send: silenced, inhibited, not routed, ..."""
        detail, more = "", dict[str, object]()
        if reason == Outcome.SILENCED.value and silence_id:
            detail, more = f"by silence {silence_id}", {"silence_id": silence_id}
        elif reason == Outcome.INHIBITED.value and incident.inhibited_by:
            detail = f"by {incident.inhibited_by[:12]}"
            more = {"inhibited_by": incident.inhibited_by}
        elif by_version is not None:
            detail, more = f"by v{by_version}", {"superseded_by": by_version}
        log.log(
            logging.DEBUG if reason in QUIET_DECISIONS else logging.INFO,
            "%s",
            outcome_line(reason, self._name, incident, detail=detail),
            extra=self._fields(reason, incident, **more),
        )

    def _log_attempt(self, notification: Notification, attempts: Attempts) -> None:
        """One line per incident of a delivered or dead-lettered notification."""
        digest = len(notification.incidents)
        took = f"in {attempts.seconds * 1000:.0f} ms"
        if attempts.failure:
            outcome, level = "dead-lettered", logging.ERROR
            detail = f"after {attempts.attempts} attempt{'s' * (attempts.attempts > 1)} (last {took}): "
            detail += attempts.failure
        else:
            outcome, level = "delivered", logging.INFO
            detail = took if attempts.attempts == 1 else f"{took} on attempt {attempts.attempts}"
        for incident in notification.incidents:
            fields = self._fields(
                outcome,
                incident,
                digest=digest,
                attempt=attempts.attempts,
                latency_ms=round(attempts.seconds * 1000),
            )
            if attempts.failure:
                fields["reason"] = attempts.failure
            log.log(
                level,
                "%s",
                outcome_line(outcome, self._name, incident, digest=digest, detail=detail),
                extra=fields,
            )

    def _log_retry(
        self, notification: Notification, *, attempt: int, seconds: float, delay: float, error: RetryableError
    ) -> None:
        """One line per failed attempt that will be retried, naming the notification's first
        incident (and, in JSON, every incident of a digest)."""
        first, digest = notification.incidents[0], len(notification.incidents)
        detail = f"attempt {attempt} failed in {seconds * 1000:.0f} ms, next in {delay:.1f}s: {error}"
        fields = self._fields(
            "retrying",
            first,
            digest=digest,
            attempt=attempt,
            latency_ms=round(seconds * 1000),
            retry_in_s=round(delay, 3),
            error=str(error),
        )
        if digest > 1:
            fields["incidents"] = [i.fingerprint for i in notification.incidents]
        log.warning(
            "%s", outcome_line("retrying", self._name, first, digest=digest, detail=detail), extra=fields
        )

    async def _deliver_due(self, batch: Batch) -> bool:
        """Deliver within the rate budget, merging into digests when more are due than it allows."""
        queue = list(batch.due.values())
        partitions = batch.partitions
        while queue:
            notification = self._next_notification(queue)
            attempts = await self._deliver(notification, partitions)
            if attempts is None:
                return False
            self._settle(notification, attempts)
        return True

    def _next_notification(self, queue: list[Incident]) -> Notification:
        taken = [queue.pop(0)]
        if queue and self._rate.available() < len(queue) + 1:
            while queue and self._fits(Notification((*taken, queue[0]))):
                taken.append(queue.pop(0))
        if len(taken) > 1:
            self.stats.digests += 1
            DIGEST_MERGES.labels(self._name).inc(len(taken))
        return Notification(tuple(taken))

    def _fits(self, notification: Notification) -> bool:
        """A digest that cannot be rendered does not fit: its incidents go one by one, and a
        template that fails on each of them too is dead-lettered with them, not a crash."""
        try:
            return self._receiver.fits(notification)
        except Exception:  # sent one by one, each failure is dead-lettered with its update
            return False

    def _settle(self, notification: Notification, attempts: Attempts) -> None:
        """Record what happened to every incident in the notification, durably, before committing."""
        outcome = Outcome.DEAD_LETTERED if attempts.failure else Outcome.DELIVERED
        DELIVERIES.labels(self._name, outcome.value).inc()
        self._log_attempt(notification, attempts)
        now = utc_now()
        for incident in notification.incidents:
            self.board.settled(incident.fingerprint, incident.version, outcome.value, at=now)
            if attempts.failure:
                self._dead_letter(incident, attempts)
            else:
                self.stats.delivered += 1
                DELIVERY_LATENCY.labels(self._name).observe((now - incident.emitted_at).total_seconds())
        self._write_log([self._log.decided(self._name, i, outcome) for i in notification.incidents])

    async def _deliver(self, notification: Notification, partitions: set[tuple[str, int]]) -> Attempts | None:
        """Deliver with retries, bounded by the retry budget, each attempt paced by the rate
        budget; None means abandon (do not commit)."""
        deadline = time.monotonic() + self._budget_seconds
        attempt = 0
        while True:
            wait = self._rate.wait_seconds()
            if wait > 0 and not await self._idle(wait, partitions):
                return None
            self._rate.take()
            attempt += 1
            started = time.monotonic()
            try:
                await self._receiver.send(notification)
                return Attempts(attempt, seconds=time.monotonic() - started)
            except PermanentError as exc:
                return Attempts(attempt, f"permanent: {exc}", time.monotonic() - started)
            except RetryableError as exc:
                took = time.monotonic() - started
                delay = backoff_delay(attempt, retry_after=exc.retry_after)
                if time.monotonic() + delay > deadline:
                    spent = f"retry budget of {self._budget_seconds:.0f}s spent: {exc}"
                    return Attempts(attempt, spent, took)
                self.stats.retries += 1
                RETRIES.labels(self._name).inc()
                self._log_retry(notification, attempt=attempt, seconds=took, delay=delay, error=exc)
                if not await self._idle(delay, partitions):
                    return None
            except Exception as exc:  # an update the receiver cannot render must not stop the notifier
                log.exception("%s: delivering %s raised", self._name, notification.incidents[0].fingerprint)
                failure = f"permanent: {type(exc).__name__} in rendering or sending (see the notifier's log)"
                return Attempts(attempt, failure, time.monotonic() - started)

    async def _idle(self, seconds: float, partitions: set[tuple[str, int]]) -> bool:
        """Wait while staying in the group; False if a batch partition was revoked or we are stopping."""
        loop = asyncio.get_running_loop()
        assignment = self._consumer.assignment()
        self._consumer.pause(assignment)
        try:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                if self._stop.is_set() or partitions & self.stats.revoked:
                    return False
                wait = min(IDLE_POLL_SECONDS, max(0.0, until - time.monotonic()))
                message = await loop.run_in_executor(None, self._consumer.poll, wait)
                if message is not None and not message.error():
                    # Fetched before the pause took effect: rewind so it is consumed again later.
                    self._consumer.seek(TopicPartition(*position(message)))
            return not self._stop.is_set() and not partitions & self.stats.revoked
        finally:
            current = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
            self._consumer.resume([tp for tp in assignment if (tp.topic, tp.partition) in current])

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.stats.revoked.update((tp.topic, tp.partition) for tp in partitions)
        self._owned.difference_update((tp.topic, tp.partition) for tp in partitions)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._owned.update((tp.topic, tp.partition) for tp in partitions)
        log.info("%s: assigned %s", self._receiver.name, [tp.partition for tp in partitions])

    def _commit(self, batch: Batch) -> None:
        """Commit past the batch, on the partitions we still own."""
        owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        offsets = [TopicPartition(t, p, o) for (t, p), o in batch.next_offsets.items() if (t, p) in owned]
        if offsets:
            self._consumer.commit(offsets=offsets, asynchronous=False)

    def _write_log(self, entries: list[NotifyLogEntry]) -> None:
        for entry in entries:
            self._log.put(log_key(entry.receiver, entry.fingerprint), entry)
        self._produce_durably(
            self._topics.notify_log,
            [(log_key(e.receiver, e.fingerprint), encode(e)) for e in entries],
        )

    def _report_lag(self) -> None:
        """From what the consumer already knows (no broker round trip on the delivery path)."""
        if time.monotonic() - self._lag_checked < LAG_REPORT_SECONDS:
            return
        self._lag_checked = time.monotonic()
        for tp in self._consumer.position(self._consumer.assignment()):
            _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if tp.offset >= 0 and high >= 0:
                CONSUMER_LAG.labels(self._name, str(tp.partition)).set(max(0, high - tp.offset))

    def _dead_letter(self, incident: Incident, outcome: Attempts) -> None:
        letter = DeadLetter(
            receiver=self._receiver.name,
            receiver_type=self._receiver.type,
            target=self._receiver.target,
            reason=outcome.failure[:2000],
            attempts=outcome.attempts,
            incident=incident,
            at=utc_now(),
        )
        self._produce_durably(
            self._topics.deadletter, [(f"{self._name}/{incident.fingerprint}", encode(letter))]
        )
        self.stats.dead_lettered += 1
        DEAD_LETTERS.labels(self._name).inc()

    def _quarantine(self, message: Message, exc: SchemaError) -> None:
        topic, partition, offset = position(message)
        log.error(
            "%s: quarantined %s[%d]@%d: %s",
            self._receiver.name,
            topic,
            partition,
            offset,
            exc,
            extra={"receiver": self._name},
        )
        record = QuarantineRecord.of(
            stage=f"notifier.{self._receiver.name}",
            reason=exc.reason,
            error=exc.detail,
            source_topic=topic,
            partition=partition,
            offset=offset,
            payload=message.value(),
        )
        self._produce_durably(self._topics.invalid, [(f"{topic}/{partition}/{offset}", encode(record))])
        self.stats.quarantined += 1

    def _produce_durably(self, topic: str, records: list[tuple[str, bytes]]) -> None:
        """Produce and wait for the broker's acks, so the source offsets can be committed after."""
        if not records:
            return
        errors: list[KafkaError] = []
        for key, value in records:
            self._producer.produce(
                topic,
                value=value,
                key=key.encode(),
                on_delivery=lambda err, _msg: errors.append(err) if err else None,
            )
        if self._producer.flush(60) or errors:
            raise RuntimeError(f"could not write to {topic}: {errors or 'timed out'}")

    def _log_consumer_error(self, error: KafkaError) -> None:
        if error.fatal() or error.code() == KafkaError._FATAL:
            # One such: another process joined with this group.instance.id, fencing this one.
            raise RuntimeError(f"fatal consumer error (instance id {self.instance_id!r}): {error.str()}")
        log.warning("%s: consumer: %s", self._receiver.name, error)
