"""Lease-based leader election, so that one replica at a time watches a cluster.

Active-active replicas are the default (their output is exact repeats the processors
drop); this is for users who want one writer per cluster. It follows client-go's
leaderelection on a coordination.k8s.io/v1 Lease in the watched cluster:

* a candidate creates the Lease when there is none, or takes it over when its holder is
  empty (released) or has not renewed it for the Lease's ``leaseDurationSeconds``;
* the expiry is measured on this replica's monotonic clock from the moment it last saw the
  Lease change, never by comparing ``renewTime`` with the local wall clock, so clock skew
  between nodes cannot make two replicas lead at once (client-go's ``observedTime``);
* every write is a PUT carrying the ``resourceVersion`` read, so of two racing candidates
  one gets 409 Conflict and simply reads the Lease again next round;
* a leader renews every ``retry_period``; if no renewal succeeded for ``renew_deadline``
  (shorter than the Lease duration, so before anyone else may take over), or the Lease
  names another holder, leadership is lost;
* on a graceful stop the leader releases the Lease (empty holder), so a standby takes over
  at its next try instead of after the Lease duration.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import urllib3
from kubernetes.client import ApiClient, CoordinationV1Api
from kubernetes.client.exceptions import ApiException

from producer import metrics
from runtime.config import LeaderElectionSettings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
MIN_REQUEST_SECONDS = 0.1


def micro_time(moment: datetime | None = None) -> str:
    """A metav1.MicroTime: RFC 3339 in UTC with exactly six fractional digits, as Go writes it."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    """Campaigns for, holds and releases one cluster's Lease; used from one thread."""

    def __init__(
        self,
        *,
        api_client: ApiClient,
        cluster: str,
        identity: str,
        settings: LeaderElectionSettings,
        clock: Clock = time.monotonic,
    ) -> None:
        self.cluster = cluster
        self.identity = identity
        self._settings = settings
        self._api = CoordinationV1Api(api_client)
        self._clock = clock
        self._log = logging.LoggerAdapter(log, {"cluster": cluster})
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._renewed_at: float | None = None
        self.holder = ""
        """The holder the Lease named when last read ("" if none): who leads when we do not."""
        metrics.LEADER.labels(cluster).set(0)

    @property
    def leading(self) -> bool:
        return self._renewed_at is not None

    def try_acquire_or_renew(self) -> bool:
        """One round: read the Lease, then create, take over or renew it if we may.

        True when we hold the Lease afterwards. API trouble and lost races are False, never raised.
        """
        try:
            return self._try()
        except ApiException as exc:
            self._log.warning("%s: Lease request answered %s %s", self.cluster, exc.status, exc.reason)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self._log.warning("%s: Lease request failed: %s: %s", self.cluster, type(exc).__name__, exc)
        return False

    def _try(self) -> bool:
        now = self._clock()
        lease = self._read()
        spec: dict[str, Any] | None = None
        if lease is not None:
            spec = lease.get("spec") or {}
            if spec != self._observed_spec:
                self._observed_spec, self._observed_at = spec, now
            self.holder = spec.get("holderIdentity") or ""
            duration = spec.get("leaseDurationSeconds") or self._settings.lease_duration_seconds
            if self.holder and self.holder != self.identity and now < self._observed_at + duration:
                return False  # held by another replica that renewed it within its duration
        if not self._write(lease, self._spec(previous=spec), now=now):
            return False
        self.holder, self._renewed_at = self.identity, now
        return True

    def _spec(self, *, previous: dict[str, Any] | None) -> dict[str, Any]:
        """Renewal keeps acquireTime; a new holder counts one more transition."""
        stamp, duration = micro_time(), self._settings.lease_duration_seconds
        if previous is not None and previous.get("holderIdentity") == self.identity:
            return {**previous, "renewTime": stamp, "leaseDurationSeconds": duration}
        transitions = int((previous or {}).get("leaseTransitions") or 0)
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": duration,
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": transitions + 1 if previous is not None else 0,
        }

    def _write(self, lease: dict[str, Any] | None, spec: dict[str, Any], *, now: float) -> bool:
        """Create (``lease`` None) or replace, conditional on the resourceVersion read."""
        settings = self._settings
        # A replace keeps the metadata read (labels, and the resourceVersion that makes it conditional).
        metadata: dict[str, Any] = (
            {"name": settings.lease_name, "namespace": settings.lease_namespace}
            if lease is None
            else lease["metadata"]
        )
        # A plain mapping goes out as written (a V1Lease would reformat the MicroTimes).
        body: Any = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }
        try:
            if lease is None:
                response = self._api.create_namespaced_lease(
                    settings.lease_namespace, body, **self._options()
                )
            else:
                response = self._api.replace_namespaced_lease(
                    settings.lease_name, settings.lease_namespace, body, **self._options()
                )
        except ApiException as exc:
            if exc.status != 409:
                raise
            # AlreadyExists or Conflict: another replica wrote first; read it again next round.
            return False
        cast(urllib3.BaseHTTPResponse, response).release_conn()
        self._observed_spec, self._observed_at = spec, now
        return True

    def _read(self) -> dict[str, Any] | None:
        settings = self._settings
        try:
            response = cast(
                urllib3.BaseHTTPResponse,
                self._api.read_namespaced_lease(
                    settings.lease_name, settings.lease_namespace, **self._options()
                ),
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        try:
            lease: dict[str, Any] = orjson.loads(response.data)
        finally:
            response.release_conn()
        return lease

    def _options(self) -> dict[str, Any]:
        """Raw responses (parsed with orjson, as the watch does), and no request outliving the
        time a leader has left to renew."""
        timeout = self._settings.renew_deadline_seconds
        if self._renewed_at is not None:
            timeout = max(self._renewed_at + timeout - self._clock(), MIN_REQUEST_SECONDS)
        return {"_preload_content": False, "_request_timeout": timeout}

    def run(self, stop: threading.Event, on_started_leading: Callable[[], None]) -> bool:
        """Campaign until leading, call ``on_started_leading``, then renew until ``stop``.

        Returns False when leadership was lost (not renewed within the deadline, or taken),
        True when ``stop`` ended it; the caller then calls :meth:`release`.
        """
        retry = self._settings.retry_period_seconds
        while not self.try_acquire_or_renew():
            if stop.wait(retry):
                return True
        self._log.info("%s: leading (Lease %s)", self.cluster, self._settings.lease_name)
        metrics.LEADER.labels(self.cluster).set(1)
        metrics.LEADER_TRANSITIONS.labels(self.cluster, "acquired").inc()
        on_started_leading()
        while not stop.wait(retry):
            if self.try_acquire_or_renew():
                continue
            renewed_at = self._renewed_at or 0.0
            if (
                self.holder != self.identity
                or self._clock() - renewed_at >= self._settings.renew_deadline_seconds
            ):
                self._lost()
                return False
        return True

    def _lost(self) -> None:
        why = (
            f"not renewed within {self._settings.renew_deadline_seconds:g}s"
            if self.holder == self.identity
            else f"now held by {self.holder!r}"
        )
        self._log.error("%s: leadership lost: Lease %s %s", self.cluster, self._settings.lease_name, why)
        self._renewed_at = None
        metrics.LEADER.labels(self.cluster).set(0)
        metrics.LEADER_TRANSITIONS.labels(self.cluster, "lost").inc()

    def release(self) -> None:
        """Hand the Lease over at once (graceful stop): empty holder, as client-go's ReleaseOnCancel.

        Only while we hold it, and conditional on its resourceVersion, so a Lease another replica
        already took is never touched.
        """
        if not self.leading:
            return
        now = self._clock()
        try:
            lease = self._read()
            spec = (lease or {}).get("spec") or {}
            if lease is None or spec.get("holderIdentity") != self.identity:
                self.holder = spec.get("holderIdentity") or ""
                self._lost()
                return
            released = {
                **spec,
                "holderIdentity": "",
                "leaseDurationSeconds": 1,
                "acquireTime": micro_time(),
                "renewTime": micro_time(),
            }
            if not self._write(lease, released, now=now):
                self._lost()
                return
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            self._log.warning("%s: could not release the Lease (it will expire): %s", self.cluster, exc)
            self._lost()
            return
        self._log.info("%s: released the Lease", self.cluster)
        self.holder, self._renewed_at = "", None
        metrics.LEADER.labels(self.cluster).set(0)
        metrics.LEADER_TRANSITIONS.labels(self.cluster, "released").inc()
