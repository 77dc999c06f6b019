"""A real Kubernetes control plane for the session: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler, started by tests/e2e/control-plane (which `make e2e` builds first).

The fake API server encodes our own reading of watch semantics; these tests hold the
producer to the real server's, and let real controllers write the events.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.kube import ControlPlane, control_plane_running


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """Kubernetes' defaults: as in a real cluster, Events bypass the API server's watch cache."""
    with control_plane_running(tmp_path_factory.mktemp("control-plane")) as plane:
        yield plane


@pytest.fixture(scope="session")
def cached_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A second control plane that serves Events from the watch cache, which sends bookmarks."""
    directory: Path = tmp_path_factory.mktemp("control-plane-cached")
    with control_plane_running(directory, apiserver_flags="--watch-cache-sizes=events#1000") as plane:
        yield plane
