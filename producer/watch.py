"""List, then watch, one cluster's Events, handing every occurrence to Kafka exactly as the API sent it.

The kubernetes client supplies authentication and transport; responses are read raw
(``_preload_content=False``) and parsed with orjson, so nothing the API said is
reformatted or dropped by a model round-trip. The loop follows the API's contract:
paged list, watch from its resourceVersion with bookmarks, resume from the last
resourceVersion seen when a watch ends, list again on 410 Gone (as an HTTP status or as
an ERROR event), capped exponential backoff with jitter on errors and stalls.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import orjson
import urllib3
from kubernetes.client import ApiClient, CoreV1Api, EventsV1Api
from kubernetes.client.exceptions import ApiException

from producer import metrics
from producer.bounds import Cuts, TooLargeError, bounded_cuts, fit
from producer.publisher import Publisher
from producer.resume import ResumePoint, ResumeToken
from runtime.config import ClusterSource, ProducerSettings
from schemas import Observation, QuarantineRecord, RawMessage, raw_message
from schemas.codec import SchemaError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0
BACKOFF_BASE_SECONDS = 0.5
QUICK_END_SECONDS = 1.0
FAILURES_BEFORE_TROUBLE = 3
"""Failed attempts in a row after which a watch counts as not following its cluster."""


class QuietWatchError(Exception):
    """A watch that sent nothing for ``read_timeout_seconds``: reconnected, not a failure."""

    def __init__(self, seen: int) -> None:
        super().__init__(f"no data after {seen} changes")
        self.seen = seen


class ResourceExpiredError(Exception):
    """The resourceVersion is older than the API server keeps (410 Gone): list again."""


class WatchError(Exception):
    """The API server reported an error inside the watch stream."""


def backoff_seconds(attempt: int, *, cap: float, rng: random.Random) -> float:
    """Capped exponential backoff with full jitter, so many producers do not reconnect in step."""
    return rng.uniform(0, min(cap, BACKOFF_BASE_SECONDS * 2 ** min(attempt, 16)))


def last_occurrence(event: dict[str, Any]) -> datetime | None:
    series = event.get("series")
    candidates = [
        series.get("lastObservedTime") if isinstance(series, dict) else None,
        event.get("lastTimestamp"),
        event.get("deprecatedLastTimestamp"),
        event.get("eventTime"),
    ]
    for value in candidates:
        if isinstance(value, str) and value:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def iter_lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """Split a chunked watch stream into its JSON lines as they arrive."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        yield from (line for line in lines if line.strip())
    if buffer.strip():
        yield buffer


class ClusterWatcher:
    """Runs in its own thread until ``stop`` is set; never raises on API or input trouble."""

    def __init__(
        self,
        *,
        source: ClusterSource,
        settings: ProducerSettings,
        publisher: Publisher,
        api_client: ApiClient,
        start_resource_version: str | None,
        stop: threading.Event,
    ) -> None:
        self.cluster = source.cluster
        self._log = logging.LoggerAdapter(log, {"cluster": self.cluster})  # a structured field in JSON logs
        self._settings = settings
        self._publisher = publisher
        self._stop = stop
        self._rng = random.Random()  # noqa: S311 (jitter, not security)
        self._api: CoreV1Api | EventsV1Api = (
            EventsV1Api(api_client) if settings.api == "events.k8s.io/v1" else CoreV1Api(api_client)
        )
        self.resume = ResumePoint(start_resource_version)
        self.resource_version = start_resource_version
        self.ready = threading.Event()
        self._response: urllib3.BaseHTTPResponse | None = None
        self._failures = 0
        self._failing_since: float | None = None
        self._last_failure = ""

    def trouble(self) -> tuple[float, str] | None:
        """Since when (monotonic) and why this watch is not following its cluster, or None:
        a streak of failed attempts long enough that it is not a routine reconnect."""
        since, failures = self._failing_since, self._failures
        if since is None or failures < FAILURES_BEFORE_TROUBLE:
            return None
        return since, f"{failures} failed attempts in a row, the last: {self._last_failure}"

    def run(self) -> None:
        """Follow the cluster until stopped. Nothing raised inside ends this loop: an
        unexpected error is one more failed attempt, retried with backoff, and shown by
        :meth:`trouble` to the health checks if it persists."""
        failures = 0
        while not self._stop.is_set():
            cause = ""
            try:
                if self.resource_version is None:
                    self.resource_version = self._list()
                    self.ready.set()
                started = time.monotonic()
                self.resource_version, seen = self._watch(self.resource_version)
                self.ready.set()
                quick_and_empty = seen == 0 and time.monotonic() - started < QUICK_END_SECONDS
                cause = "empty" if quick_and_empty else "ended"
                failures = failures + 1 if quick_and_empty else 0
            except QuietWatchError as quiet:
                self._log.debug("%s: watch quiet after %d changes; reconnecting", self.cluster, quiet.seen)
                cause, failures = "quiet", 0  # resumes from self.resource_version, kept by _watch
            except ResourceExpiredError:
                self._log.warning(
                    "%s: resourceVersion %s expired; listing again", self.cluster, self.resource_version
                )
                self.resource_version, cause = None, "expired"
            except ApiException as exc:
                if exc.status == 410:
                    self.resource_version, cause = None, "expired"
                else:
                    failures += 1
                    cause = f"http-{exc.status}"
                    self._log.warning("%s: API answered %s %s", self.cluster, exc.status, exc.reason)
            except (urllib3.exceptions.HTTPError, OSError, WatchError) as exc:
                if self._stop.is_set():
                    break  # interrupt() cut the stream to stop: not a failure to report
                failures += 1
                cause = "connection" if not isinstance(exc, WatchError) else "watch-error"
                self._log.warning("%s: watch interrupted: %s: %s", self.cluster, type(exc).__name__, exc)
            except Exception as exc:  # a defect, not the API's doing: retried, and shown to health checks
                failures += 1
                cause = "unexpected"
                self._log.exception("%s: watch failed unexpectedly: %s", self.cluster, type(exc).__name__)
            self._note_attempt(failures, cause)
            if self._stop.is_set():
                break
            metrics.WATCH_RESTARTS.labels(self.cluster, cause).inc()
            if failures:
                self._stop.wait(
                    backoff_seconds(failures, cap=self._settings.backoff_max_seconds, rng=self._rng)
                )

    def _note_attempt(self, failures: int, cause: str) -> None:
        if failures == 0:
            self._failing_since = None
        elif self._failing_since is None:
            self._failing_since = time.monotonic()
        self._failures, self._last_failure = failures, cause

    def interrupt(self) -> None:
        """Unblock a read in progress (used at shutdown)."""
        response = self._response
        if response is not None:
            shutdown = getattr(response, "shutdown", None)
            if shutdown is not None:
                shutdown()

    def _request(self, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        settings = self._settings
        options: dict[str, Any] = {
            "_preload_content": False,
            "_request_timeout": (CONNECT_TIMEOUT_SECONDS, settings.read_timeout_seconds),
            **kwargs,
        }
        if settings.field_selector:
            options["field_selector"] = settings.field_selector
        if settings.label_selector:
            options["label_selector"] = settings.label_selector
        if settings.namespace:
            response = self._api.list_namespaced_event(settings.namespace, **options)
        else:
            response = self._api.list_event_for_all_namespaces(**options)
        # With _preload_content=False the client returns the raw urllib3 response.
        return cast(urllib3.BaseHTTPResponse, response)

    def _list(self) -> str:
        """Publish every Event the API holds, page by page; returns the list's resourceVersion."""
        metrics.RELISTS.labels(self.cluster).inc()
        continue_token: str | None = None
        snapshot = ""
        listed = 0
        while True:
            options: dict[str, Any] = {"limit": self._settings.page_size}
            if continue_token:
                options["_continue"] = continue_token
            response = self._request(**options)
            try:
                page = orjson.loads(response.data)
            finally:
                response.release_conn()
            snapshot = page["metadata"]["resourceVersion"]
            for item in page.get("items") or ():
                self._publish(item, Observation.LISTED, resource_version=None)
                listed += 1
            continue_token = page["metadata"].get("continue") or None
            if not continue_token or self._stop.is_set():
                break
        self.resume.reached(snapshot)
        self._log.info("%s: listed %d events at resourceVersion %s", self.cluster, listed, snapshot)
        return str(snapshot)

    def _watch(self, resource_version: str) -> tuple[str, int]:
        """Stream changes after ``resource_version`` until the server ends the watch."""
        response = self._request(
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self._settings.watch_timeout_seconds,
        )
        self._response = response
        seen = 0
        try:
            for line in iter_lines(response):
                if self._stop.is_set():
                    break
                resource_version = self._handle_line(line, resource_version)
                # Kept as it advances: a stream cut mid-way (the API server crashed) resumes
                # from here, not from where this watch began, which would repeat all it delivered.
                self.resource_version = resource_version
                seen += 1
        except urllib3.exceptions.ReadTimeoutError:
            # Silent for read_timeout_seconds after the server answered. A default API server
            # sends no bookmarks for Events (they have no watch cache), so a quiet namespace
            # looks like this: reconnect from here, as after a server-side timeout, no failure.
            raise QuietWatchError(seen) from None
        finally:
            self._response = None
            response.release_conn()
        return resource_version, seen

    def _handle_line(self, line: bytes, resource_version: str) -> str:
        try:
            change = orjson.loads(line)
            kind, obj = change["type"], change["object"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            self._quarantine_line(line, "bad-watch-line", str(exc))
            return resource_version
        if kind == "ERROR":
            code = obj.get("code") if isinstance(obj, dict) else None
            if code == 410:
                raise ResourceExpiredError(obj.get("message", ""))
            raise WatchError(f"{code}: {obj.get('message', '') if isinstance(obj, dict) else obj}")
        new_version = (obj.get("metadata") or {}).get("resourceVersion") if isinstance(obj, dict) else None
        if not isinstance(new_version, str) or not new_version:
            self._quarantine_line(
                line, "no-resource-version", "watch object without metadata.resourceVersion"
            )
            return resource_version
        if kind in ("ADDED", "MODIFIED"):
            self._publish(obj, Observation(kind), resource_version=new_version)
        else:  # BOOKMARK, or DELETED (TTL expiry, not news): a position, nothing to deliver
            if kind == "DELETED":
                metrics.EVENTS_SKIPPED.labels(self.cluster, "deleted").inc()
            self.resume.reached(new_version)
        return new_version

    def _publish(
        self, event: dict[str, Any], observation: Observation, *, resource_version: str | None
    ) -> None:
        metrics.EVENTS_OBSERVED.labels(self.cluster, observation.value).inc()
        max_age = self._settings.max_event_age_seconds
        if max_age is not None:
            last = last_occurrence(event)
            if last is not None and (datetime.now(UTC) - last).total_seconds() > max_age:
                metrics.EVENTS_SKIPPED.labels(self.cluster, "too-old").inc()
                if resource_version is not None:
                    self.resume.reached(resource_version)
                return
        token = self.resume.observed(resource_version)
        try:
            message, cuts = self._fit(event, observation)
        except SchemaError as exc:
            self._quarantine(event, token, exc.reason, exc.detail)
            return
        except TooLargeError as exc:
            self._quarantine(event, token, "too-large", str(exc))
            return
        except Exception as exc:  # any Event, however strange, must not stop the watch
            self._quarantine(event, token, "unpublishable", f"{type(exc).__name__}: {exc}")
            return
        if cuts:
            metrics.EVENTS_CUT.labels(self.cluster).inc()
            self._log.warning(
                "%s: cut %s to fit %d bytes: %s",
                self.cluster,
                identity(event),
                self._publisher.budget,
                ", ".join(f"{c['field'][:100]} ({c['action']}, {c['bytes']} bytes)" for c in cuts[:5])
                + (f" and {len(cuts) - 5} more" if len(cuts) > 5 else ""),
            )
        started = time.monotonic()
        cluster = self.cluster

        def delivered() -> None:
            self.resume.delivered(token)
            metrics.EVENTS_PUBLISHED.labels(cluster).inc()
            metrics.DELIVERY_LATENCY.labels(cluster).observe(time.monotonic() - started)

        def refused(reason: str) -> None:
            metrics.EVENTS_FAILED.labels(cluster).inc()
            self._quarantine(event, token, "refused", reason)

        self._publisher.publish(message, on_delivered=delivered, on_refused=refused)
        metrics.LAST_EVENT.labels(cluster).set(time.time())

    def _fit(self, event: dict[str, Any], observation: Observation) -> tuple[RawMessage, Cuts]:
        """The envelope of ``event`` within the topic's bounds (see producer/bounds.py)."""
        if not isinstance(event, dict):
            raise SchemaError("invalid", "event must be an object")
        observed_at = datetime.now(UTC)

        def encode(bounded: dict[str, Any], cuts: Cuts) -> RawMessage:
            return raw_message(
                bounded,
                cluster=self.cluster,
                producer_id=self._settings.producer_id,
                observation=observation,
                api=self._settings.api,
                observed_at=observed_at,
                cut=bounded_cuts(cuts),
            )

        return fit(event, encode, budget=self._publisher.budget)

    def _quarantine(self, event: Any, token: ResumeToken | None, reason: str, error: str) -> None:
        """Keep an Event that cannot be published on the quarantine topic, named by its
        identity (never its content) in the log and the error; the resume point passes it
        once the quarantine record is safe."""
        who = identity(event)
        metrics.EVENTS_QUARANTINED.labels(self.cluster, reason).inc()
        self._log.error("%s: quarantined %s: %s: %s", self.cluster, who, reason, error[:300])
        try:
            payload = orjson.dumps(event)
        except (TypeError, orjson.JSONEncodeError):
            payload = repr(event)[: 64 * 1024].encode("utf-8", "replace")
        self._send_to_quarantine(payload, reason, f"{who}: {error}", token)

    def _quarantine_line(self, line: bytes, reason: str, error: str) -> None:
        metrics.EVENTS_QUARANTINED.labels(self.cluster, reason).inc()
        self._log.error(
            "%s: quarantined an unusable line of the watch: %s: %s", self.cluster, reason, error[:300]
        )
        self._send_to_quarantine(line, reason, error, None)

    def _send_to_quarantine(self, payload: bytes, reason: str, error: str, token: ResumeToken | None) -> None:
        record = QuarantineRecord.of(
            stage="producer.watch",
            reason=reason,
            error=error,
            source_topic=f"kubernetes:{self.cluster}",
            partition=-1,
            offset=-1,
            payload=payload,
        )
        on_delivered = None if token is None else partial(self.resume.delivered, token)
        self._publisher.quarantine(record, key=f"{self.cluster}/producer.watch", on_delivered=on_delivered)


def identity(event: Any) -> str:
    """Which Event this is, for logs and quarantine records: names and versions, no content."""
    if not isinstance(event, dict):
        return f"a {type(event).__name__} instead of an Event"
    found = event.get("metadata")
    metadata: dict[str, Any] = found if isinstance(found, dict) else {}

    def part(value: Any) -> str:
        return value[:253] if isinstance(value, str) and value else "?"

    return (
        f"Event {part(metadata.get('namespace'))}/{part(metadata.get('name'))} "
        f"(uid {part(metadata.get('uid'))}, resourceVersion {part(metadata.get('resourceVersion'))})"
    )
