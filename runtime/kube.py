"""One way to reach a Kubernetes API server, for every process that reads from one.

Every way the kubeconfig or the pod's service account can be wrong is a :class:`KubeError`
here, one line that names the file, the context or the setting, never the client's traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.config.config_exception import ConfigException

from runtime.errors import SetupError

KubeSetting = Literal["in_cluster", "kubeconfig", "context"]


class KubeError(SetupError):
    """The API server cannot be reached as configured; ``setting`` is what to change."""

    def __init__(self, message: str, *, setting: KubeSetting) -> None:
        super().__init__(message)
        self.setting: KubeSetting = setting


def api_client(
    *, in_cluster: bool, kubeconfig: str | Path | None = None, context: str | None = None
) -> ApiClient:
    """An authenticated client: the pod's service account, or a kubeconfig context (the
    current one when ``context`` is None; ``$KUBECONFIG`` or ~/.kube/config when no file)."""
    if in_cluster:
        return _in_cluster_client()
    path = str(kubeconfig) if kubeconfig else None
    shown = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
    if os.pathsep not in shown and not Path(shown).expanduser().is_file():
        where = "" if path or os.environ.get("KUBECONFIG") else " ($KUBECONFIG is not set either)"
        raise KubeError(f"kubeconfig {shown}: no such file{where}", setting="kubeconfig")
    try:
        contexts, active = kube_config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, yaml.YAMLError, TypeError, ValueError, KeyError) as exc:
        raise KubeError(f"kubeconfig {shown} is not valid: {_one_line(exc)}", setting="kubeconfig") from None
    names = [str(entry.get("name")) for entry in contexts or [] if isinstance(entry, dict)]
    there = ", ".join(names) or "none"
    if context is not None and context not in names:
        raise KubeError(
            f"no context {context!r} in kubeconfig {shown} (contexts there: {there})", setting="context"
        )
    if context is None and not _name_of(active):
        raise KubeError(
            f"kubeconfig {shown} has no current-context: set a context (contexts there: {there})",
            setting="context",
        )
    try:
        client: ApiClient = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=path, context=context
        )
    except (ConfigException, OSError, TypeError, ValueError, KeyError) as exc:
        used = context or _name_of(active)
        raise KubeError(
            f"kubeconfig {shown}, context {used!r}: {_one_line(exc)}", setting="kubeconfig"
        ) from None
    return client


def _in_cluster_client() -> ApiClient:
    if not os.environ.get("KUBERNETES_SERVICE_HOST") or not os.environ.get("KUBERNETES_SERVICE_PORT"):
        raise KubeError(
            "this process is not in a pod (KUBERNETES_SERVICE_HOST is not set): outside a "
            "cluster, set kubeconfig and context instead of in_cluster",
            setting="in_cluster",
        )
    configuration = Configuration()
    try:
        kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError) as exc:
        raise KubeError(f"in-cluster credentials: {_one_line(exc)}", setting="in_cluster") from None
    return ApiClient(configuration)


def _name_of(context: Any) -> str | None:
    return str(context["name"]) if isinstance(context, dict) and context.get("name") else None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
