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

Polling, pausing, quarantine, durable side outputs and committing are the shared loop's
(:mod:`runtime.committing`); this module decides and delivers a batch (:meth:`Notifier.write`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Set
from dataclasses import dataclass, field
from datetime import datetime

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
from runtime.committing import Batching, CommittingStage, Consumed, Output, Partition
from runtime.config import ConfigError, ConfigIssue, HeraldConfig, ReceiverEntry
from runtime.kafka import CompactedTopicReader, acknowledged_producer, committing_consumer
from schemas import (
    DeadLetter,
    Incident,
    NotifyLogEntry,
    Outcome,
    QuarantineRecord,
    encode,
)
from schemas.base import utc_now
from schemas.matchers import Matcher, match_all

log = logging.getLogger(__name__)

BATCH_MAX = 500
BACKLOG_SECONDS = 10.0
BACKLOG_MESSAGES = 5_000
"""Bounds on reading a backlog into one batch: beyond them, the rest comes in the next
batch, and an incident's versions split across the two may both be sent (in order)."""
LAG_REPORT_SECONDS = 15.0


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


@dataclass
class Batch:
    """What the notifier decided of one batch of updates: delivered paced, committed at once."""

    partitions: frozenset[Partition] = frozenset()
    """The batch's partitions: one revoked while a delivery waits abandons the batch."""
    due: dict[str, Incident] = field(default_factory=dict)
    """Updates to deliver by fingerprint, in arrival order; a later version supersedes an earlier."""
    decided: dict[str, NotifyLogEntry] = field(default_factory=dict)
    """What this batch decided so far, consulted before the log (which it has not reached yet)."""
    records: list[NotifyLogEntry] = field(default_factory=list)


class Notifier(CommittingStage[Incident]):
    def __init__(
        self, config: HeraldConfig, receiver: Receiver, *, filters: tuple[Matcher, ...] = ()
    ) -> None:
        self.group_id = f"{config.kafka.topic_prefix}notifier.{receiver.name}"
        self.instance_id = config.notifier.instance_id
        super().__init__(
            stage=f"notifier.{receiver.name}",
            model=Incident,
            consumer=committing_consumer(
                config.kafka,
                group_id=self.group_id,
                client_id=f"herald-notifier-{receiver.name}",
                instance_id=self.instance_id,
                session_timeout_seconds=config.notifier.session_timeout_seconds,
            ),
            producer=acknowledged_producer(config.kafka),
            invalid_topic=config.kafka.topics.invalid,
            batching=Batching(BATCH_MAX, backlog_seconds=BACKLOG_SECONDS, backlog_messages=BACKLOG_MESSAGES),
            instance_id=self.instance_id,
        )
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
        self._readers = [
            CompactedTopicReader(config.kafka, self._topics.notify_log, self._log.on_record),
            CompactedTopicReader(config.kafka, self._topics.silences, self._silences.on_record),
        ]
        self._ready = threading.Event()
        self._lag_checked = 0.0
        self.stats = RunStats()

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
        if not self.assigned:
            return False, "no partitions assigned"
        return True, ""

    def live(self) -> tuple[bool, str]:
        """Unhealthy once a reader of the notification log or the silences has stopped: its
        view no longer follows the topic, so decisions would go wrong; a restart reads it anew."""
        stopped = [f"{reader.topic}: {reader.failure}" for reader in self._readers if reader.failure]
        return (False, "reader stopped: " + "; ".join(stopped)) if stopped else (True, "")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for reader in self._readers:
            reader.start()
        try:
            for reader in self._readers:
                # The log must be whole before the first decision, or a restart would resend.
                await loop.run_in_executor(None, reader.wait_caught_up, 120.0)
            self._ready.set()
            log.info(
                "notifier %s (%s -> %s) consuming %s as %s",
                self._name,
                self._receiver.type,
                self._receiver.target,
                self._topics.alerts,
                f"static member {self.instance_id}" if self.instance_id else "a dynamic member",
            )
            await self.consume([self._topics.alerts])
        finally:
            for reader in self._readers:
                reader.stop()
            await self.close()
            await self._receiver.aclose()

    async def write(self, batch: Consumed[Incident]) -> bool:
        """Decide each update in offset order, record those not sent, deliver the rest; False
        if a partition was revoked or we are stopping: its next owner delivers the rest."""
        decisions = Batch(partitions=batch.partitions)
        now = utc_now()
        for incident in batch.items:
            self._decide(decisions, incident, now)
        await self._write_log(decisions.records)
        return await self._deliver_due(decisions)

    async def tick(self) -> None:
        """The lag, from what the consumer already knows (no broker round trip on the delivery path)."""
        if time.monotonic() - self._lag_checked < LAG_REPORT_SECONDS:
            return
        self._lag_checked = time.monotonic()
        for partition, lag in self.lags().items():
            CONSUMER_LAG.labels(self._name, str(partition)).set(lag)

    def quarantined(self, records: list[QuarantineRecord]) -> None:
        self.stats.quarantined += len(records)

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
            # Acknowledged before the next delivery: a crash resends at most the one in flight.
            await self.produce_durably(self._settle(notification, attempts))
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

    def _settle(self, notification: Notification, attempts: Attempts) -> list[Output]:
        """Record what happened to every incident in the notification: the dead letters and
        notification log entries to write, together, before the next delivery and the commit."""
        outcome = Outcome.DEAD_LETTERED if attempts.failure else Outcome.DELIVERED
        DELIVERIES.labels(self._name, outcome.value).inc()
        self._log_attempt(notification, attempts)
        now = utc_now()
        letters = []
        for incident in notification.incidents:
            self.board.settled(incident.fingerprint, incident.version, outcome.value, at=now)
            if attempts.failure:
                letters.append(self._dead_letter(incident, attempts))
            else:
                self.stats.delivered += 1
                DELIVERY_LATENCY.labels(self._name).observe((now - incident.emitted_at).total_seconds())
        return [
            *letters,
            *self._logged([self._log.decided(self._name, i, outcome) for i in notification.incidents]),
        ]

    async def _deliver(self, notification: Notification, partitions: Set[Partition]) -> Attempts | None:
        """Deliver with retries, bounded by the retry budget, each attempt paced by the rate
        budget; None means abandon (do not commit)."""
        deadline = time.monotonic() + self._budget_seconds
        attempt = 0
        while True:
            wait = self._rate.wait_seconds()
            if wait > 0 and not await self.hold(wait, partitions):
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
                if not await self.hold(delay, partitions):
                    return None
            except Exception as exc:  # an update the receiver cannot render must not stop the notifier
                log.exception("%s: delivering %s raised", self._name, notification.incidents[0].fingerprint)
                failure = f"permanent: {type(exc).__name__} in rendering or sending (see the notifier's log)"
                return Attempts(attempt, failure, time.monotonic() - started)

    async def _write_log(self, entries: list[NotifyLogEntry]) -> None:
        await self.produce_durably(self._logged(entries))

    def _logged(self, entries: list[NotifyLogEntry]) -> list[Output]:
        """The entries, in the log this notifier decides from at once, and as records to write."""
        for entry in entries:
            self._log.put(log_key(entry.receiver, entry.fingerprint), entry)
        return [
            Output(self._topics.notify_log, log_key(e.receiver, e.fingerprint), encode(e)) for e in entries
        ]

    def _dead_letter(self, incident: Incident, outcome: Attempts) -> Output:
        letter = DeadLetter(
            receiver=self._receiver.name,
            receiver_type=self._receiver.type,
            target=self._receiver.target,
            reason=outcome.failure[:2000],
            attempts=outcome.attempts,
            incident=incident,
            at=utc_now(),
        )
        self.stats.dead_lettered += 1
        DEAD_LETTERS.labels(self._name).inc()
        return Output(self._topics.deadletter, f"{self._name}/{incident.fingerprint}", encode(letter))
