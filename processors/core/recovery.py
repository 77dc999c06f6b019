"""Which Events prove an incident over, and which Events are a node outage seen from its pods.

Quiet is not recovery: a node still NotReady sends no new Event. So each category names the
Events that do prove recovery, about the same object as the failure (Kubernetes' own
reasons, as its components write them):

| category | evidence (same object) | written by |
|---|---|---|
| node-not-ready | NodeReady (the Node) | kubelet, "Node x status is now: NodeReady" |
| node-pressure | NodeHasNoDiskPressure, NodeHasSufficientMemory, NodeHasSufficientPID, NodeReady | kubelet |
| scheduling | Scheduled (the Pod) | scheduler, "Successfully assigned ns/pod to node" |
| image-pull | Pulled, Started (the Pod) | kubelet |
| sandbox-network | Started (the Pod) | kubelet |
| volume | SuccessfulAttachVolume, SuccessfulMountVolume (the Pod) | attach-detach controller, kubelet |
| quota, admission, failed-create | SuccessfulCreate (same controller) | its controller, "Created pod: x" |

Other categories (a crash loop, a failing probe, an OOM kill, an eviction) have no Event
that says they stopped: they close as quiet after ``resolve_timeout_seconds``, and say so.

The node lifecycle controller marks every pod of a NotReady node with a Pod Event
``NodeNotReady`` ("Node is not ready"), and the taint-eviction controller writes
``TaintManagerEviction`` ("Marking for deletion Pod ns/x"); neither names the node. They
are consequences of the node's outage, not incidents of their own (:func:`is_node_outage_echo`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from schemas import CleanEvent

BUILTIN_EVIDENCE: Mapping[str, frozenset[str]] = {
    "node-not-ready": frozenset({"NodeReady"}),
    "node-pressure": frozenset(
        {"NodeHasNoDiskPressure", "NodeHasSufficientMemory", "NodeHasSufficientPID", "NodeReady"}
    ),
    "scheduling": frozenset({"Scheduled"}),
    "image-pull": frozenset({"Pulled", "Started"}),
    "sandbox-network": frozenset({"Started"}),
    "volume": frozenset({"SuccessfulAttachVolume", "SuccessfulMountVolume"}),
    "quota": frozenset({"SuccessfulCreate"}),
    "admission": frozenset({"SuccessfulCreate"}),
    "failed-create": frozenset({"SuccessfulCreate"}),
}
NODE_OUTAGE_CATEGORY = "node-not-ready"
NODE_LEVEL_CATEGORIES = ("oom", "node-pressure", NODE_OUTAGE_CATEGORY)
"""Categories of a node's own incidents, which a pod's incident on that node may follow."""
_ECHOES = frozenset({"NodeNotReady", "TaintManagerEviction"})
_SCHEDULED = re.compile(r"^Successfully assigned (?P<namespace>[^/\s]+)/(?P<pod>\S+) to (?P<node>\S+)$")


class Evidence:
    """The recovery table: built-in, plus the reasons a user's ``processor.recovery`` adds."""

    def __init__(self, extra: Mapping[str, Sequence[str]] | None = None) -> None:
        table = {category: set(reasons) for category, reasons in BUILTIN_EVIDENCE.items()}
        for category, more in (extra or {}).items():
            table.setdefault(category, set()).update(more)
        self._by_category = {category: frozenset(reasons) for category, reasons in table.items()}
        self._by_reason: dict[str, tuple[str, ...]] = {}
        for category, reasons in self._by_category.items():
            for reason in reasons:
                self._by_reason[reason] = (*self._by_reason.get(reason, ()), category)

    def categories_proven(self, reason: str) -> tuple[str, ...]:
        """The categories an Event of this reason may prove recovered (of its own object)."""
        return self._by_reason.get(reason, ())

    def has_evidence(self, category: str) -> bool:
        """Whether an incident of this category can be proven over, or only closes as quiet."""
        return category in self._by_category


def scheduled_node(clean: CleanEvent) -> str | None:
    """The node the scheduler assigned this pod to, from its ``Scheduled`` Event."""
    if clean.reason != "Scheduled" or clean.kind != "Pod":
        return None
    match = _SCHEDULED.match(clean.message)
    if match is None or match["pod"] != clean.name or match["namespace"] != (clean.namespace or ""):
        return None
    return match["node"]


def is_node_outage_echo(clean: CleanEvent) -> bool:
    """A Pod Event that only repeats its node's outage: the node lifecycle controller's
    ``NodeNotReady`` and the taint-eviction controller's ``TaintManagerEviction``."""
    return clean.kind == "Pod" and clean.category != "lifecycle" and clean.reason in _ECHOES
