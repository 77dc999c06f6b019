"""The category vocabulary people read: one display name per built-in category in each
language, and the title an incident is announced with.

Shared by the processor (which titles every incident in English, ``Incident.title``) and
the notifiers (which title it again in each receiver's language from the same fields), so
both say the same thing: ``Crash loop shop/checkout`` / ``容器崩溃重启 shop/checkout``,
and a node's trouble names the node: ``Node not ready node-7``.
"""

from __future__ import annotations

from typing import Final, Literal

Language = Literal["en", "zh"]
LANGUAGES: Final[tuple[Language, ...]] = ("en", "zh")

NAMES: Final[dict[str, dict[Language, str]]] = {
    "image-pull": {"en": "Image pull failing", "zh": "镜像拉取失败"},
    "crash-loop": {"en": "Crash loop", "zh": "容器崩溃重启"},
    "oom": {"en": "Out of memory", "zh": "内存溢出"},
    "scheduling": {"en": "Cannot schedule", "zh": "调度失败"},
    "node-not-ready": {"en": "Node not ready", "zh": "节点未就绪"},
    "node-pressure": {"en": "Node under pressure", "zh": "节点资源紧张"},
    "eviction": {"en": "Pods evicted", "zh": "Pod 被驱逐"},
    "volume": {"en": "Volume failing", "zh": "存储卷故障"},
    "probe": {"en": "Health check failing", "zh": "健康检查失败"},
    "sandbox-network": {"en": "Pod sandbox or network failing", "zh": "Pod 沙箱或网络故障"},
    "quota": {"en": "Quota exceeded", "zh": "超出资源配额"},
    "admission": {"en": "Admission denied", "zh": "准入控制拒绝"},
    "failed-create": {"en": "Cannot create pods", "zh": "Pod 创建失败"},
    "dns": {"en": "DNS config problem", "zh": "DNS 配置异常"},
    "job-failure": {"en": "Job failed", "zh": "任务失败"},
    "hpa": {"en": "Autoscaler failing", "zh": "自动扩缩容异常"},
    "disk-gc": {"en": "Disk cleanup failing", "zh": "磁盘清理失败"},
    "kill": {"en": "Pod stop failing", "zh": "Pod 停止异常"},
    "lifecycle": {"en": "Lifecycle event", "zh": "生命周期事件"},
    "other": {"en": "Other warning", "zh": "其他告警"},
}
"""Display names of the built-in categories (processors/taxonomy.py); a user rule's own
category is shown as it is spelled."""

NODE_CATEGORIES: Final = frozenset({"node-not-ready", "node-pressure", "disk-gc"})
"""Categories that are about a node whatever the Event's object: their title names the node."""


def category_name(category: str, language: Language) -> str:
    """The category as a reader says it; an unknown (user) category as it is spelled."""
    names = NAMES.get(category)
    return names[language] if names else category


def subject(
    category: str, *, namespace: str | None, workload: str | None, node: str | None, kind: str | None
) -> str:
    """What the incident is about, as short as stays unambiguous: ``node-7``,
    ``payments/api``, ``node-7 · payments/api`` (a workload's trouble with its node),
    ``payments`` or a cluster-scoped object's name."""
    if kind == "Node":
        # A Node's own incident may carry its name as the workload and not (yet) as node.
        return node or workload or ""
    where = f"{namespace}/{workload}" if namespace and workload else workload or namespace or ""
    if category in NODE_CATEGORIES and node:
        return f"{node} · {where}" if where else node
    return where or node or ""


def title(
    category: str,
    *,
    namespace: str | None,
    workload: str | None,
    node: str | None,
    kind: str | None,
    language: Language,
) -> str:
    """``镜像拉取失败 payments/api``, ``Crash loop shop/checkout``, ``Node not ready node-7``."""
    about = subject(category, namespace=namespace, workload=workload, node=node, kind=kind)
    name = category_name(category, language)
    return f"{name} {about}" if about else name
