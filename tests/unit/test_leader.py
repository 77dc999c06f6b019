"""The Lease elector's decisions, against the fake API server through a real kubeconfig.

Expiry is measured on the elector's monotonic clock (from when it last saw the Lease change),
so these tests drive a fake clock and never sleep through a lease duration; only the renew
deadline test runs in real time, with sub-second periods.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from producer.leader import LeaseElector
from runtime.config import LeaderElectionSettings
from tests.support.fake_apiserver import FakeApiServer, rfc3339_micro
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(60)

NAMESPACE, NAME = "kube-herald", "kube-herald-producer"
SETTINGS = LeaderElectionSettings(
    enabled=True,
    lease_name=NAME,
    lease_namespace=NAMESPACE,
    lease_duration_seconds=15,
    renew_deadline_seconds=10,
    retry_period_seconds=2,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        yield fake
        assert fake.internal_errors == []


@pytest.fixture
def api_client(server: FakeApiServer, tmp_path: Path) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path / "kubeconfig")))
    try:
        yield api
    finally:
        api.close()


def elector(
    api_client: client.ApiClient,
    identity: str,
    clock: Callable[[], float] = time.monotonic,
    settings: LeaderElectionSettings = SETTINGS,
) -> LeaseElector:
    return LeaseElector(api_client=api_client, cluster="c", identity=identity, settings=settings, clock=clock)


def held_by(holder: str, *, transitions: int = 3) -> dict[str, object]:
    now = rfc3339_micro()
    return {
        "holderIdentity": holder,
        "leaseDurationSeconds": 15,
        "acquireTime": now,
        "renewTime": now,
        "leaseTransitions": transitions,
    }


def test_creates_an_absent_lease_and_renews_it_keeping_acquire_time(
    server: FakeApiServer, api_client: client.ApiClient
) -> None:
    one = elector(api_client, "replica-1")
    assert one.try_acquire_or_renew()
    lease = server.lease(NAMESPACE, NAME)
    assert lease is not None
    spec = lease["spec"]
    assert spec["holderIdentity"] == "replica-1"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0
    assert one.leading

    assert one.try_acquire_or_renew()
    renewed = server.lease(NAMESPACE, NAME)
    assert renewed is not None
    assert int(renewed["metadata"]["resourceVersion"]) > int(lease["metadata"]["resourceVersion"])
    assert renewed["spec"]["acquireTime"] == spec["acquireTime"]
    assert renewed["spec"]["renewTime"] >= spec["renewTime"]
    assert renewed["spec"]["leaseTransitions"] == 0


def test_a_held_lease_is_taken_only_once_unrenewed_for_its_duration(
    server: FakeApiServer, api_client: client.ApiClient
) -> None:
    server.put_lease(NAMESPACE, NAME, held_by("replica-1"))
    clock = FakeClock()
    two = elector(api_client, "replica-2", clock)
    assert not two.try_acquire_or_renew()
    assert two.holder == "replica-1"
    assert not two.leading

    clock.now += 14  # within the 15 s duration since it was first seen
    assert not two.try_acquire_or_renew()
    server.put_lease(NAMESPACE, NAME, held_by("replica-1"))  # replica-1 renews: the clock restarts
    clock.now += 14
    assert not two.try_acquire_or_renew()
    clock.now += 14  # 28 s since first seen, but only 14 s since the renewal
    assert not two.try_acquire_or_renew()
    assert server.lease_holder(NAMESPACE, NAME) == "replica-1"

    clock.now += 2  # 16 s without a change: expired
    assert two.try_acquire_or_renew()
    lease = server.lease(NAMESPACE, NAME)
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "replica-2"
    assert lease["spec"]["leaseTransitions"] == 4


def test_a_released_lease_is_taken_at_once(server: FakeApiServer, api_client: client.ApiClient) -> None:
    one, two = elector(api_client, "replica-1"), elector(api_client, "replica-2", FakeClock())
    assert one.try_acquire_or_renew()
    assert not two.try_acquire_or_renew()
    one.release()
    assert not one.leading
    assert server.lease_holder(NAMESPACE, NAME) == ""
    assert two.try_acquire_or_renew()  # same fake instant: no waiting for the duration
    assert server.lease_holder(NAMESPACE, NAME) == "replica-2"
    one.release()  # no longer ours: must not touch it
    assert server.lease_holder(NAMESPACE, NAME) == "replica-2"


def test_of_two_racing_candidates_the_stale_write_gets_a_conflict(
    server: FakeApiServer, api_client: client.ApiClient
) -> None:
    server.put_lease(NAMESPACE, NAME, {**held_by(""), "leaseDurationSeconds": 1})
    one, two = elector(api_client, "replica-1"), elector(api_client, "replica-2")
    # Both read the released Lease; replica-2 writes first, then replica-1 writes on the old version.
    original_write = one._write
    raced = threading.Event()

    def write_after_the_other(lease: object, spec: dict[str, object], *, now: float) -> bool:
        if not raced.is_set():
            raced.set()
            assert two.try_acquire_or_renew()
        return original_write(lease, spec, now=now)  # type: ignore[arg-type]

    one._write = write_after_the_other  # type: ignore[method-assign]
    assert not one.try_acquire_or_renew()
    assert not one.leading
    conflicts = [r for r in server.requests if r.method == "PUT" and r.status == 409]
    assert len(conflicts) == 1
    assert server.lease_holder(NAMESPACE, NAME) == "replica-2"
    assert not one.try_acquire_or_renew()  # re-read: held and valid
    assert one.holder == "replica-2"


def test_creating_races_end_in_already_exists(server: FakeApiServer, api_client: client.ApiClient) -> None:
    one, two = elector(api_client, "replica-1"), elector(api_client, "replica-2")
    original_read = one._read

    def read_nothing_then_lose() -> None:
        assert original_read() is None
        assert two.try_acquire_or_renew()

    one._read = read_nothing_then_lose  # type: ignore[assignment,method-assign]
    assert not one.try_acquire_or_renew()
    assert [r.status for r in server.requests if r.method == "POST"] == [201, 409]
    assert server.lease_holder(NAMESPACE, NAME) == "replica-2"


def test_a_leader_that_cannot_renew_within_the_deadline_loses_leadership(
    server: FakeApiServer, api_client: client.ApiClient
) -> None:
    fast = LeaderElectionSettings(
        enabled=True,
        lease_name=NAME,
        lease_namespace=NAMESPACE,
        lease_duration_seconds=3,
        renew_deadline_seconds=1.0,
        retry_period_seconds=0.1,
    )
    one = elector(api_client, "replica-1", settings=fast)
    stop, started = threading.Event(), threading.Event()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(one.run(stop, started.set)), daemon=True)
    thread.start()
    wait_until(started.is_set, timeout=10, what="leading")
    renewals = len([r for r in server.requests if r.method == "PUT"])
    wait_until(
        lambda: len([r for r in server.requests if r.method == "PUT"]) >= renewals + 3,
        timeout=10,
        what="renewals every retry period",
    )
    assert not result, "still leading while renewals succeed"
    server.fail_next(1000, status=500, path_prefix="/apis/coordination.k8s.io/")
    thread.join(timeout=10)
    assert result == [False]
    assert not one.leading
    failed = [r for r in server.requests if r.status == 500]
    assert len(failed) >= 2, "renewal is retried until the deadline"


def test_a_leader_that_finds_another_holder_stops_at_once(
    server: FakeApiServer, api_client: client.ApiClient
) -> None:
    one = elector(api_client, "replica-1", settings=SETTINGS.model_copy(update={"retry_period_seconds": 0.1}))
    stop, started = threading.Event(), threading.Event()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(one.run(stop, started.set)), daemon=True)
    thread.start()
    wait_until(started.is_set, timeout=10, what="leading")
    server.put_lease(NAMESPACE, NAME, held_by("intruder"))
    thread.join(timeout=5)  # far below the 10 s renew deadline
    assert result == [False]
    assert server.lease_holder(NAMESPACE, NAME) == "intruder"


def test_stop_ends_the_campaign_of_a_standby(server: FakeApiServer, api_client: client.ApiClient) -> None:
    server.put_lease(NAMESPACE, NAME, held_by("replica-1"))
    two = elector(api_client, "replica-2", settings=SETTINGS.model_copy(update={"retry_period_seconds": 0.1}))
    stop = threading.Event()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(two.run(stop, pytest.fail)), daemon=True)
    thread.start()
    wait_until(lambda: two.holder == "replica-1", timeout=10, what="the standby reading the Lease")
    stop.set()
    thread.join(timeout=5)
    assert result == [True]
    two.release()  # a standby holds nothing to release
    assert server.lease_holder(NAMESPACE, NAME) == "replica-1"


def test_the_fake_refuses_what_the_apiserver_refuses(
    server: FakeApiServer, api_client: client.ApiClient
) -> None:
    coordination = client.CoordinationV1Api(api_client)
    with pytest.raises(client.ApiException) as missing:
        coordination.read_namespaced_lease(NAME, NAMESPACE)
    assert missing.value.status == 404
    body = {"metadata": {"name": NAME}, "spec": {"holderIdentity": "x", "renewTime": "2026-11-28T10:00:00Z"}}
    with pytest.raises(client.ApiException) as not_micro:
        coordination.create_namespaced_lease(NAMESPACE, body)
    assert not_micro.value.status == 400
    created = coordination.create_namespaced_lease(NAMESPACE, {"metadata": {"name": NAME}, "spec": {}})
    with pytest.raises(client.ApiException) as exists:
        coordination.create_namespaced_lease(NAMESPACE, {"metadata": {"name": NAME}, "spec": {}})
    assert exists.value.status == 409
    assert "AlreadyExists" in exists.value.body
    coordination.replace_namespaced_lease(NAME, NAMESPACE, created)
    with pytest.raises(client.ApiException) as stale:
        coordination.replace_namespaced_lease(NAME, NAMESPACE, created)  # the old resourceVersion
    assert stale.value.status == 409
    assert "Conflict" in stale.value.body
    assert [lease.metadata.name for lease in coordination.list_namespaced_lease(NAMESPACE).items] == [NAME]
