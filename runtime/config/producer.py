"""The producer's settings: which clusters it watches, how, and its leader election."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from runtime.config.base import Settings
from schemas.raw import CLUSTER_ID_PATTERN


class ClusterSource(Settings):
    """One cluster to watch: its id and how to reach its API server."""

    cluster: str = Field(pattern=CLUSTER_ID_PATTERN, description="Cluster id carried by every event.")
    kubeconfig: Path | None = Field(
        None, description="kubeconfig file; default $KUBECONFIG or ~/.kube/config."
    )
    context: str | None = Field(None, description="kubeconfig context; default its current-context.")
    in_cluster: bool = Field(False, description="Use the pod's service account instead of a kubeconfig.")


class LeaderElectionSettings(Settings):
    """Lease-based leader election: one writer per cluster instead of active-active replicas.

    Semantics of client-go's leaderelection: the Lease lives in the watched cluster, a
    candidate takes it once its holder has not renewed it for ``lease_duration_seconds``.
    """

    enabled: bool = Field(
        False, description="Watch a cluster only while holding its Lease (off: every replica watches)."
    )
    lease_name: str = Field(
        "kube-herald-producer",
        pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$",
        description="Name of the coordination.k8s.io/v1 Lease, in each watched cluster.",
    )
    lease_namespace: str = Field(
        "kube-herald",
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="Namespace of the Lease (the producer's RBAC must allow it there).",
    )
    lease_duration_seconds: int = Field(
        15, ge=1, description="A Lease not renewed this long may be taken: the failover time."
    )
    renew_deadline_seconds: float = Field(
        10.0,
        gt=0,
        description="A leader that could not renew for this long stops and exits; < lease_duration_seconds.",
    )
    retry_period_seconds: float = Field(
        2.0,
        gt=0,
        description="How often the leader renews and a standby tries to acquire; < renew_deadline_seconds.",
    )

    @model_validator(mode="after")
    def _timings_are_ordered(self) -> LeaderElectionSettings:
        """A leader must give up before others may take over, and try more than once before that."""
        if self.renew_deadline_seconds >= self.lease_duration_seconds:
            raise ValueError("renew_deadline_seconds must be less than lease_duration_seconds")
        if self.retry_period_seconds >= self.renew_deadline_seconds:
            raise ValueError("retry_period_seconds must be less than renew_deadline_seconds")
        return self


class ProducerSettings(Settings):
    cluster: str | None = Field(
        None,
        pattern=CLUSTER_ID_PATTERN,
        description="This cluster's id (shorthand for one entry in clusters).",
    )
    clusters: list[ClusterSource] = Field(
        default_factory=list,
        description="Several clusters watched by one process, one kubeconfig context each.",
    )
    producer_id: str = Field(
        default_factory=socket.gethostname, description="This replica's id; default the host name."
    )
    api: Literal["v1", "events.k8s.io/v1"] = Field("v1", description="Which Events API to watch.")
    namespace: str | None = Field(None, description="Watch one namespace only; default all.")
    field_selector: str | None = Field(None, description="e.g. type=Warning")
    label_selector: str | None = Field(None, description="Only Events with these labels, e.g. team=payments.")
    page_size: int = Field(500, ge=1, le=10_000, description="Items per page of the initial list.")
    watch_timeout_seconds: int = Field(300, ge=1, description="Server-side timeout of one watch request.")
    read_timeout_seconds: float = Field(
        90.0, gt=0, description="A watch silent this long (no event, no bookmark) is reconnected."
    )
    backoff_max_seconds: float = Field(30.0, gt=0, description="Cap of the reconnect backoff.")
    unhealthy_after_seconds: float = Field(
        120.0,
        gt=0,
        description="A watch failing (or a watch thread gone) this long fails /healthz, so the "
        "orchestrator restarts the process; /readyz fails at once.",
    )
    max_event_age_seconds: float | None = Field(
        None, gt=0, description="Skip events whose last occurrence is older than this (off by default)."
    )
    checkpoint_interval_seconds: float = Field(1.0, gt=0, description="How often the resume point is saved.")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="/metrics, /healthz, /readyz; off if unset."
    )
    linger_ms: int = Field(20, ge=0, le=5000, description="librdkafka linger.ms: batching vs latency.")
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "zstd", description="Compression of the batches written to events.raw."
    )
    leader_election: LeaderElectionSettings = Field(
        LeaderElectionSettings(), description="Optional: one replica at a time watches each cluster."
    )

    @model_validator(mode="after")
    def _names_a_cluster(self) -> ProducerSettings:
        if self.cluster is None and not self.clusters:
            raise ValueError("set producer.cluster (or list producer.clusters)")
        return self

    def sources(self) -> list[ClusterSource]:
        """Every cluster this process watches."""
        if self.clusters:
            return list(self.clusters)
        assert self.cluster is not None
        return [ClusterSource(cluster=self.cluster)]

    @property
    def default_cluster(self) -> str:
        return self.cluster or self.clusters[0].cluster
