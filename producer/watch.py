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
from typing import Any, cast

import orjson
import urllib3
from kubernetes.client import ApiClient, CoreV1Api, EventsV1Api
from kubernetes.client.exceptions import ApiException

from producer import metrics
from producer.publisher import Publisher
from producer.resume import ResumePoint
from runtime.config import ClusterSource, ProducerSettings
from schemas import Observation, QuarantineRecord, raw_message
from schemas.codec import SchemaError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0
BACKOFF_BASE_SECONDS = 0.5
QUICK_END_SECONDS = 1.0


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

    def run(self) -> None:
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
            if self._stop.is_set():
                break
            metrics.WATCH_RESTARTS.labels(self.cluster, cause).inc()
            if failures:
                self._stop.wait(
                    backoff_seconds(failures, cap=self._settings.backoff_max_seconds, rng=self._rng)
                )

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
            self._quarantine(line, "bad-watch-line", str(exc))
            return resource_version
        if kind == "ERROR":
            code = obj.get("code") if isinstance(obj, dict) else None
            if code == 410:
                raise ResourceExpiredError(obj.get("message", ""))
            raise WatchError(f"{code}: {obj.get('message', '') if isinstance(obj, dict) else obj}")
        new_version = (obj.get("metadata") or {}).get("resourceVersion") if isinstance(obj, dict) else None
        if not isinstance(new_version, str) or not new_version:
            self._quarantine(line, "no-resource-version", "watch object without metadata.resourceVersion")
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
        observed_at = datetime.now(UTC)
        try:
            message = raw_message(
                event,
                cluster=self.cluster,
                producer_id=self._settings.producer_id,
                observation=observation,
                api=self._settings.api,
                observed_at=observed_at,
            )
        except SchemaError as exc:
            self._quarantine(orjson.dumps(event), exc.reason, exc.detail)
            if resource_version is not None:
                self.resume.reached(resource_version)
            return
        token = self.resume.observed(resource_version)
        started = time.monotonic()
        cluster = self.cluster

        def delivered() -> None:
            self.resume.delivered(token)
            metrics.EVENTS_PUBLISHED.labels(cluster).inc()
            metrics.DELIVERY_LATENCY.labels(cluster).observe(time.monotonic() - started)

        self._publisher.publish(
            message, on_delivered=delivered, on_failed=metrics.EVENTS_FAILED.labels(cluster).inc
        )
        metrics.LAST_EVENT.labels(cluster).set(observed_at.timestamp())

    def _quarantine(self, payload: bytes, reason: str, error: str) -> None:
        self._log.error(
            "%s: quarantined an unusable event from the API: %s: %s", self.cluster, reason, error[:300]
        )
        record = QuarantineRecord.of(
            stage="producer.watch",
            reason=reason,
            error=error,
            source_topic=f"kubernetes:{self.cluster}",
            partition=-1,
            offset=-1,
            payload=payload,
        )
        self._publisher.quarantine(record, key=f"{self.cluster}/producer.watch")
