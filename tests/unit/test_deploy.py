"""The producer's RBAC grants reading Events and nothing more."""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).parents[2] / "deploy"


def test_producer_role_only_reads_events() -> None:
    documents = list(yaml.safe_load_all((DEPLOY / "producer-rbac.yaml").read_text()))
    roles = [d for d in documents if d["kind"] in ("ClusterRole", "Role")]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            assert rule["resources"] == ["events"]
            assert set(rule["verbs"]) <= {"get", "list", "watch"}
    binding = next(d for d in documents if d["kind"] == "ClusterRoleBinding")
    account = next(d for d in documents if d["kind"] == "ServiceAccount")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]
