"""One way to reach a Kubernetes API server, for every process that reads from one."""

from __future__ import annotations

from pathlib import Path

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration


def api_client(
    *, in_cluster: bool, kubeconfig: str | Path | None = None, context: str | None = None
) -> ApiClient:
    """An authenticated client: the pod's service account, or a kubeconfig context (the
    current one when ``context`` is None; ``$KUBECONFIG`` or ~/.kube/config when no file)."""
    if in_cluster:
        configuration = Configuration()
        kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return ApiClient(configuration)
    client: ApiClient = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig) if kubeconfig else None, context=context
    )
    return client
