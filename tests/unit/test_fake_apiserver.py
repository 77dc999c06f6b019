"""The fake apiserver, proven with the real ``kubernetes`` client through a real kubeconfig.

These tests pin both halves of the contract the producer tests rely on: what the fake sends, and how
the official client (v37, urllib3 2) surfaces each fault, so that producer code handles the right
exception types.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException, ServiceException

from tests.support.fake_apiserver import (
    INITIAL_EVENTS_END_ANNOTATION,
    FakeApiServer,
    make_event,
    rfc3339_micro,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(30)

Event = dict[str, Any]


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer(bookmark_interval=0.2) as fake:
        yield fake
        assert fake.internal_errors == []


@pytest.fixture
def api_client(server: FakeApiServer, tmp_path: Path) -> Iterator[client.ApiClient]:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


class Background:
    """Run ``action`` in a thread once ``ready`` holds; re-raise its failure on ``join``."""

    def __init__(self, ready: Callable[[], bool], action: Callable[[], None]) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                wait_until(ready, timeout=10, interval=0.01, what="background precondition")
                action()
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def when_watching(server: FakeApiServer, action: Callable[[], None], watches: int = 1) -> Background:
    return Background(lambda: server.open_watches >= watches, action)


def seed(server: FakeApiServer, count: int, **kwargs: Any) -> list[Event]:
    return [server.create_event(make_event(i, **kwargs)) for i in range(count)]


def names(items: list[client.CoreV1Event]) -> list[str]:
    return [item.metadata.name for item in items]


# --------------------------------------------------------------------------------------------------
# kubeconfig, discovery, plain HTTP
# --------------------------------------------------------------------------------------------------


def test_kubeconfig_with_several_contexts_is_accepted_by_the_client(
    server: FakeApiServer, tmp_path: Path
) -> None:
    path = tmp_path / "multi" / "kubeconfig"
    server.write_kubeconfig(path, context="alpha", namespace="shop")
    server.write_kubeconfig(path, context="beta", token="beta-secret")

    contexts, active = config.list_kube_config_contexts(config_file=str(path))
    assert [c["name"] for c in contexts] == ["alpha", "beta"]
    assert active["name"] == "alpha"
    assert active["context"]["namespace"] == "shop"

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), context="beta", client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        version = client.VersionApi(api).get_code()
    assert version.major == "1"
    assert version.git_version.startswith("v1.")
    last = server.requests[-1]
    assert (last.path, last.status, last.authorization) == ("/version/", 200, "Bearer beta-secret")


def test_unknown_paths_and_methods_answer_a_status_body(server: FakeApiServer) -> None:
    http = urllib3.PoolManager()
    missing = http.request("GET", f"{server.url}/api/v1/namespaces/shop/pods")
    assert missing.status == 404
    body = json.loads(missing.data)
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status",
        "Failure",
        "NotFound",
        404,
    )

    post = http.request("POST", f"{server.url}/api/v1/namespaces/shop/events", body=b"{}")
    assert post.status == 405

    for path in ("/api", "/apis", "/api/v1", "/apis/events.k8s.io/v1"):
        assert http.request("GET", server.url + path).status == 200, path
    assert server.requests[0].authorization is None


def test_make_event_deserializes_into_a_complete_core_v1_event(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    stored = server.create_event(make_event(7, name="api-0", reason="Unhealthy"))
    assert stored["metadata"]["uid"]
    assert stored["metadata"]["resourceVersion"] == str(server.current_resource_version)

    got = core.read_namespaced_event(stored["metadata"]["name"], "shop")
    assert got.metadata.uid == stored["metadata"]["uid"]
    assert got.involved_object.kind == "Pod"
    assert got.involved_object.name == "api-0"
    assert got.involved_object.namespace == "shop"
    assert got.involved_object.field_path == "spec.containers{app}"
    assert got.involved_object.uid
    assert got.source.component == "kubelet"
    assert got.source.host == "node-a"
    assert got.reporting_component == "kubelet"
    assert got.reporting_instance == "node-a"
    assert got.count == 1
    assert got.first_timestamp is not None
    assert got.last_timestamp is not None
    assert got.event_time is None

    node_event = server.create_event(make_event(8, kind="Node", name="node-a", namespace="default"))
    assert "namespace" not in node_event["involvedObject"]


# --------------------------------------------------------------------------------------------------
# list
# --------------------------------------------------------------------------------------------------


def test_paged_list_reads_one_consistent_snapshot(server: FakeApiServer, core: client.CoreV1Api) -> None:
    created = seed(server, 7)
    expected = {e["metadata"]["name"]: e["metadata"]["resourceVersion"] for e in created}

    first = core.list_event_for_all_namespaces(limit=3)
    snapshot_rv = first.metadata.resource_version
    assert snapshot_rv == str(server.current_resource_version)
    assert first.metadata.remaining_item_count == 4
    seen = list(first.items)

    # Writes between pages must not show up in later pages of the same list.
    last_name = created[-1]["metadata"]["name"]
    server.bump("shop", last_name)
    server.delete_event("shop", created[4]["metadata"]["name"])
    server.create_event(make_event(99))

    token = first.metadata._continue
    while token:
        page = core.list_event_for_all_namespaces(limit=3, _continue=token)
        assert page.metadata.resource_version == snapshot_rv
        seen.extend(page.items)
        token = page.metadata._continue

    assert {i.metadata.name: i.metadata.resource_version for i in seen} == expected
    assert names(seen) == sorted(expected)
    assert all(i.count == 1 for i in seen)
    assert all(i.kind is None for i in seen), "list items carry no kind/apiVersion, like the real server"

    fresh = core.list_event_for_all_namespaces()
    assert fresh.metadata.resource_version == str(server.current_resource_version)
    assert len(fresh.items) == 7  # one deleted, one added
    assert next(i for i in fresh.items if i.metadata.name == last_name).count == 2
    assert fresh.metadata._continue is None


def test_namespaced_list_only_sees_its_namespace(server: FakeApiServer, core: client.CoreV1Api) -> None:
    seed(server, 3, namespace="shop")
    seed(server, 2, namespace="billing")
    assert len(core.list_namespaced_event("billing").items) == 2
    assert len(core.list_namespaced_event("shop", limit=2).items) == 2
    assert len(core.list_event_for_all_namespaces().items) == 5


def test_continue_token_older_than_compaction_is_410_expired(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    seed(server, 5)
    first = core.list_event_for_all_namespaces(limit=2)
    server.create_event(make_event(50))
    server.compact()

    with pytest.raises(ApiException) as caught:
        core.list_event_for_all_namespaces(limit=2, _continue=first.metadata._continue)
    assert caught.value.status == 410
    status = json.loads(caught.value.body)
    assert status["reason"] == "Expired"
    assert status["message"].startswith("The provided continue parameter is too old")

    # The token in the Status continues inconsistently, from the latest state.
    rest = core.list_event_for_all_namespaces(_continue=status["metadata"]["continue"])
    assert rest.metadata.resource_version == str(server.current_resource_version)
    assert len(rest.items) == 4  # 5 + 1 created, minus the 2 of the first page


# --------------------------------------------------------------------------------------------------
# watch
# --------------------------------------------------------------------------------------------------


def test_watch_from_list_rv_replays_history_then_streams_live_changes_in_order(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    a, b = seed(server, 2)
    listed = core.list_event_for_all_namespaces()

    # Changes after the list but before the watch: must be replayed from history.
    a_name, b_name = a["metadata"]["name"], b["metadata"]["name"]
    server.bump("shop", a_name)
    server.delete_event("shop", b_name)

    def live_changes() -> None:
        c = server.create_event(make_event(3))
        server.bump("shop", c["metadata"]["name"])
        server.delete_event("shop", c["metadata"]["name"])

    writer = when_watching(server, live_changes)
    received: list[tuple[str, str, str]] = []
    w = watch.Watch()
    for event in w.stream(
        core.list_event_for_all_namespaces,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=10,
    ):
        obj = event["object"]
        received.append((event["type"], obj.metadata.name, obj.metadata.resource_version))
        if len(received) == 5:
            w.stop()
    writer.join()

    c_name = make_event(3)["metadata"]["name"]
    assert [(t, n) for t, n, _ in received] == [
        ("MODIFIED", a_name),
        ("DELETED", b_name),
        ("ADDED", c_name),
        ("MODIFIED", c_name),
        ("DELETED", c_name),
    ]
    rvs = [int(rv) for _, _, rv in received]
    assert rvs == list(range(int(listed.metadata.resource_version) + 1, server.current_resource_version + 1))
    assert w.resource_version == str(server.current_resource_version)


def test_watch_without_rv_starts_with_current_state_as_added(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    seed(server, 3)
    writer = when_watching(server, lambda: server.create_event(make_event(10)))
    received: list[tuple[str, str]] = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_event, "shop", timeout_seconds=10):
        received.append((event["type"], event["object"].metadata.name))
        if len(received) == 4:
            w.stop()
    writer.join()
    assert [t for t, _ in received] == ["ADDED"] * 4
    assert received[-1][1] == make_event(10)["metadata"]["name"]


def test_bookmarks_carry_the_current_rv_and_advance_the_client(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    seed(server, 2)
    rv = str(server.current_resource_version)
    bookmarks: list[dict[str, Any]] = []
    w = watch.Watch()
    for event in w.stream(
        core.list_namespaced_event,
        "shop",
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=10,
    ):
        assert event["type"] == "BOOKMARK"
        bookmarks.append(event["raw_object"])
        if len(bookmarks) == 1:
            # Writes outside the watched namespace still move the bookmark forward.
            server.create_event(make_event(20, namespace="other"))
        if len(bookmarks) == 3:
            w.stop()
    assert bookmarks[0] == {"kind": "Event", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}
    assert bookmarks[-1]["metadata"]["resourceVersion"] == str(server.current_resource_version)
    assert w.resource_version == str(server.current_resource_version)


def test_send_initial_events_ends_with_an_annotated_bookmark(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    seed(server, 2)
    received: list[dict[str, Any]] = []
    w = watch.Watch()
    for event in w.stream(
        core.list_event_for_all_namespaces,
        allow_watch_bookmarks=True,
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        timeout_seconds=10,
    ):
        received.append(event)
        if event["type"] == "BOOKMARK":
            w.stop()
    assert [e["type"] for e in received] == ["ADDED", "ADDED", "BOOKMARK"]
    metadata = received[-1]["raw_object"]["metadata"]
    assert metadata["annotations"] == {INITIAL_EVENTS_END_ANNOTATION: "true"}
    assert metadata["resourceVersion"] == str(server.current_resource_version)


def test_no_bookmarks_unless_asked_and_timeout_seconds_ends_the_stream(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    rv = str(server.current_resource_version)
    started = time.monotonic()
    events = list(
        watch.Watch().stream(core.list_event_for_all_namespaces, resource_version=rv, timeout_seconds=1)
    )
    elapsed = time.monotonic() - started
    assert events == []
    assert 0.9 <= elapsed < 4
    request = server.watch_requests()[-1]
    assert request.query["timeoutSeconds"] == "1"
    assert request.status == 200
    wait_until(lambda: server.open_watches == 0, timeout=5, interval=0.01)


def test_expired_watch_is_an_error_event_that_the_client_raises_as_410(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    old_rv = str(server.current_resource_version)
    seed(server, 3)
    server.compact()

    # With timeout_seconds the client never retries: the ERROR event raises at once.
    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(
                core.list_event_for_all_namespaces, resource_version=old_rv, timeout_seconds=5
            )
        )
    assert caught.value.status == 410
    assert (
        caught.value.reason
        == f"Expired: too old resource version: {old_rv} ({server.current_resource_version})"
    )
    assert caught.value.body is None
    assert len(server.watch_requests()) == 1
    assert server.watch_requests()[0].status == 200  # the 410 travels inside a 200 stream

    # Without timeout_seconds the client silently retries once from the same rv, then raises.
    with pytest.raises(ApiException) as caught_again:
        list(watch.Watch().stream(core.list_event_for_all_namespaces, resource_version=old_rv))
    assert caught_again.value.status == 410
    assert len(server.watch_requests()) == 3


def test_expired_watch_as_http_410(server: FakeApiServer, core: client.CoreV1Api) -> None:
    old_rv = str(server.current_resource_version)
    seed(server, 2)
    server.compact()
    server.expire_with_http_410 = True
    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(
                core.list_event_for_all_namespaces, resource_version=old_rv, timeout_seconds=5
            )
        )
    assert caught.value.status == 410
    assert caught.value.reason == "Gone"
    status = json.loads(caught.value.body)
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Expired", 410)
    assert status["message"].startswith(f"too old resource version: {old_rv} (")
    assert server.watch_requests()[-1].status == 410


def test_compaction_behind_an_open_watch_ends_it_with_410(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    seed(server, 1)
    rv = str(server.current_resource_version)
    server.stall_watches(10)

    def fall_behind() -> None:
        server.create_event(make_event(5))
        server.compact()
        server.stall_watches(0)

    writer = when_watching(server, fall_behind)
    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(core.list_event_for_all_namespaces, resource_version=rv, timeout_seconds=10)
        )
    writer.join()
    assert caught.value.status == 410


# --------------------------------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------------------------------


def test_fail_next_answers_the_status_for_n_matching_requests(
    server: FakeApiServer, api_client: client.ApiClient, core: client.CoreV1Api
) -> None:
    seed(server, 1)
    server.fail_next(2)
    for _ in range(2):
        with pytest.raises(ServiceException) as caught:
            core.list_event_for_all_namespaces()
        assert caught.value.status == 500
        assert json.loads(caught.value.body)["reason"] == "InternalError"
    assert len(core.list_event_for_all_namespaces().items) == 1

    server.fail_next(1, status=503, path_prefix="/apis/events.k8s.io/")
    assert len(core.list_event_for_all_namespaces().items) == 1  # not matching: untouched
    with pytest.raises(ApiException) as unavailable:
        client.EventsV1Api(api_client).list_event_for_all_namespaces()
    assert unavailable.value.status == 503

    server.fail_next(1)
    with pytest.raises(ApiException) as on_watch:
        list(watch.Watch().stream(core.list_event_for_all_namespaces, timeout_seconds=5))
    assert on_watch.value.status == 500
    assert [r.status for r in server.requests] == [500, 500, 200, 200, 503, 500]


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_dropped_watch_raises_protocol_error_instead_of_hanging(
    server: FakeApiServer, core: client.CoreV1Api, reset: bool
) -> None:
    dropped: list[int] = []
    dropper = when_watching(server, lambda: dropped.append(server.drop_watches(reset=reset)))
    stream = watch.Watch().stream(core.list_event_for_all_namespaces, allow_watch_bookmarks=True)
    with pytest.raises(urllib3.exceptions.ProtocolError) as caught:
        list(stream)  # bookmarks may arrive first; the drop must then raise, never hang
    dropper.join()
    assert dropped == [1]
    if reset:
        assert isinstance(caught.value.args[1], ConnectionResetError)
    else:
        assert "Response ended prematurely" in str(caught.value)
    wait_until(lambda: server.open_watches == 0, timeout=5, interval=0.01)
    assert len(server.watch_requests()) == 1  # the client does not reconnect by itself


def test_stalled_watch_trips_the_client_read_timeout(server: FakeApiServer, core: client.CoreV1Api) -> None:
    server.stall_watches(10)
    started = time.monotonic()
    received: list[Event] = []
    stream = watch.Watch().stream(
        core.list_event_for_all_namespaces,
        allow_watch_bookmarks=True,
        timeout_seconds=5,  # a stall outlives the server-side timeout too
        _request_timeout=(2, 0.5),  # (connect, read): the read timeout applies to every socket read
    )
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        received.extend(stream)
    assert received == [], "a stalled watch sent something"
    assert time.monotonic() - started < 3
    wait_until(lambda: server.open_watches == 0, timeout=5, interval=0.01)


def test_changes_made_during_a_stall_arrive_after_it(server: FakeApiServer, core: client.CoreV1Api) -> None:
    rv = str(server.current_resource_version)

    def stall_then_write() -> None:
        server.stall_watches(0.8)
        seed(server, 2)

    writer = when_watching(server, stall_then_write)
    received: list[str] = []
    started = time.monotonic()
    w = watch.Watch()
    for event in w.stream(core.list_event_for_all_namespaces, resource_version=rv, timeout_seconds=10):
        received.append(event["type"])
        if len(received) == 2:
            w.stop()
    writer.join()
    assert received == ["ADDED", "ADDED"]
    assert time.monotonic() - started >= 0.7


# --------------------------------------------------------------------------------------------------
# selectors and the events.k8s.io/v1 view
# --------------------------------------------------------------------------------------------------


def test_field_selectors_filter_lists(server: FakeApiServer, core: client.CoreV1Api) -> None:
    server.create_event(make_event(1, reason="BackOff"))
    server.create_event(make_event(2, reason="Pulled", type="Normal"))
    server.create_event(make_event(3, kind="Node", name="node-a", namespace="default", reason="NodeNotReady"))
    server.create_event(
        make_event(4, kind="Deployment", name="web", reason="ScalingReplicaSet", type="Normal")
    )

    def reasons(selector: str) -> list[str]:
        return sorted(i.reason for i in core.list_event_for_all_namespaces(field_selector=selector).items)

    assert reasons("involvedObject.kind=Node") == ["NodeNotReady"]
    assert reasons("type!=Normal") == ["BackOff", "NodeNotReady"]
    assert reasons("type==Normal,involvedObject.kind=Pod") == ["Pulled"]
    assert reasons("involvedObject.name=web") == ["ScalingReplicaSet"]
    assert reasons("reason=BackOff,type=Warning") == ["BackOff"]
    assert reasons("source=kubelet,metadata.namespace=default") == ["NodeNotReady"]

    page = core.list_event_for_all_namespaces(field_selector="type=Normal", limit=1)
    assert page.metadata._continue
    assert page.metadata.remaining_item_count is None  # not counted under a selector, as upstream

    with pytest.raises(ApiException) as caught:
        core.list_event_for_all_namespaces(field_selector="involvedObject.color=red")
    assert caught.value.status == 400
    assert "field label not supported: involvedObject.color" in caught.value.body


def test_field_selector_on_watch_turns_leaving_objects_into_deleted(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    warning = server.create_event(make_event(1))
    name = warning["metadata"]["name"]
    rv = str(server.current_resource_version)

    def changes() -> None:
        server.create_event(make_event(2, type="Normal", reason="Pulled"))  # never visible
        server.bump("shop", name)  # MODIFIED
        server.update_event("shop", name, type="Normal")  # leaves the selector: DELETED
        server.update_event("shop", name, type="Warning")  # re-enters: ADDED

    writer = when_watching(server, changes)
    received: list[tuple[str, int]] = []
    w = watch.Watch()
    for event in w.stream(
        core.list_event_for_all_namespaces,
        resource_version=rv,
        field_selector="type=Warning",
        timeout_seconds=10,
    ):
        received.append((event["type"], event["object"].count))
        if len(received) == 3:
            w.stop()
    writer.join()
    assert received == [("MODIFIED", 2), ("DELETED", 2), ("ADDED", 2)]


def test_events_v1_api_lists_and_watches_the_same_store(
    server: FakeApiServer, api_client: client.ApiClient
) -> None:
    events_v1 = client.EventsV1Api(api_client)
    stamp = rfc3339_micro()
    created = server.create_event(make_event(1, event_time=stamp))
    server.bump("shop", created["metadata"]["name"])
    server.create_event(make_event(2, kind="Node", name="node-b", namespace="default", event_time=stamp))

    listed = events_v1.list_namespaced_event("shop")
    assert listed.metadata.resource_version == str(server.current_resource_version)
    (item,) = listed.items
    assert item.regarding.kind == "Pod"
    assert item.regarding.name == created["involvedObject"]["name"]
    assert item.note == created["message"]
    assert item.reporting_controller == "kubelet"
    assert item.reporting_instance == "node-a"
    assert item.deprecated_count == 2
    assert item.deprecated_source.component == "kubelet"
    assert item.deprecated_first_timestamp is not None
    assert item.deprecated_last_timestamp is not None
    assert item.event_time is not None

    by_kind = events_v1.list_event_for_all_namespaces(field_selector="regarding.kind=Node")
    assert [i.regarding.name for i in by_kind.items] == ["node-b"]

    writer = when_watching(server, lambda: server.create_event(make_event(3, event_time=rfc3339_micro())))
    w = watch.Watch()
    received = []
    for event in w.stream(
        events_v1.list_event_for_all_namespaces,
        resource_version=listed.metadata.resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=10,
    ):
        if event["type"] == "BOOKMARK":
            assert event["raw_object"]["apiVersion"] == "events.k8s.io/v1"
            continue
        received.append(event)
        w.stop()
    writer.join()
    assert received[0]["type"] == "ADDED"
    assert received[0]["object"].note.startswith("Back-off restarting")
    assert received[0]["raw_object"]["apiVersion"] == "events.k8s.io/v1"


def test_events_v1_client_rejects_legacy_events_without_event_time(
    server: FakeApiServer, api_client: client.ApiClient
) -> None:
    """Legacy core/v1 events have eventTime null; the v37 client's EventsV1Event requires it."""
    server.create_event(make_event(1))
    with pytest.raises(pydantic.ValidationError, match="eventTime"):
        client.EventsV1Api(api_client).list_event_for_all_namespaces()
    raw = client.EventsV1Api(api_client).list_event_for_all_namespaces(_preload_content=False)
    assert json.loads(raw.data)["items"][0]["eventTime"] is None


# --------------------------------------------------------------------------------------------------
# control API and lifecycle
# --------------------------------------------------------------------------------------------------


def test_control_api_keeps_rvs_monotonic_and_rejects_bad_input(server: FakeApiServer) -> None:
    start = server.current_resource_version
    created = server.create_event(make_event(1))
    patched = server.patch_event("shop", created["metadata"]["name"], lambda e: e.update(message="changed"))
    deleted = server.delete_event("shop", created["metadata"]["name"])
    assert [int(e["metadata"]["resourceVersion"]) for e in (created, patched, deleted)] == [
        start + 1,
        start + 2,
        start + 3,
    ]
    assert deleted["message"] == "changed"
    assert server.events() == []

    defaulted = server.create_event({"metadata": {"name": "x"}, "involvedObject": {"namespace": "ops"}})
    assert defaulted["metadata"]["namespace"] == "ops"
    with pytest.raises(ValueError, match="already exists"):
        server.create_event({"metadata": {"name": "x", "namespace": "ops"}})
    with pytest.raises(KeyError):
        server.bump("ops", "missing")
    with pytest.raises(ValueError, match="beyond"):
        server.compact(server.current_resource_version + 1)


def test_stop_ends_open_watches_cleanly_and_leaks_no_threads(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    outcome: list[str] = []
    with FakeApiServer() as fake:
        api = config.new_client_from_config(config_file=str(fake.write_kubeconfig(tmp_path / "kc")))
        core = client.CoreV1Api(api)

        def consume() -> None:
            try:
                outcome.extend(
                    e["type"]
                    for e in watch.Watch().stream(core.list_event_for_all_namespaces, timeout_seconds=30)
                )
                outcome.append("ended")
            except Exception as exc:
                outcome.append(repr(exc))

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        wait_until(lambda: fake.open_watches == 1, timeout=5, interval=0.01)
    consumer.join(timeout=5)
    api.close()
    assert outcome == ["ended"]
    wait_until(
        lambda: set(threading.enumerate()) <= before, timeout=5, interval=0.01, what="server threads to end"
    )


def test_restart_keeps_port_and_store_while_down_the_client_cannot_connect(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    seed(server, 2)
    port, rv = server.port, server.current_resource_version
    server.stop()
    with pytest.raises(urllib3.exceptions.MaxRetryError) as caught:
        core.list_event_for_all_namespaces(_request_timeout=(1, 1))
    assert isinstance(caught.value.reason, urllib3.exceptions.NewConnectionError)

    server.start()
    assert server.port == port
    listed = core.list_event_for_all_namespaces()
    assert listed.metadata.resource_version == str(rv)
    assert len(listed.items) == 2
