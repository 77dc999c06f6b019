"""The kube-eventer setup of the common guides, which every migration test starts from."""

from __future__ import annotations

GUIDE_TEMPLATE = (
    '{"msgtype": "text","text": {"content": "集群事件告警\\n事件级别: {{ .Type }}\\n名称空间: '
    "{{ .InvolvedObject.Namespace }}\\n事件类型: {{ .InvolvedObject.Kind }}\\n事件对象: "
    "{{ .InvolvedObject.Name }}\\n事件原因: {{ .Reason }}\\n发生时间: {{ .LastTimestamp }}\\n"
    '详细信息: {{ .Message }}"}}'
)
"""The ConfigMap's ``content``, as its YAML holds it (each ``\\n`` a JSON escape)."""


def guide_configmap(name: str = "custom-webhook-body", namespace: str = "kube-system") -> str:
    """That ConfigMap as ``kubectl get -o yaml`` would show it."""
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        f"data:\n  content: >-\n    {GUIDE_TEMPLATE}\n"
    )
