"""The category vocabulary shared by processor and notifiers (schemas/categories.py)."""

from __future__ import annotations

import re

import pytest

from processors.core.taxonomy import BUILTIN_RULES
from schemas.categories import LANGUAGES, NAMES, Language, category_name, title

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_built_in_category_has_a_name_in_every_language() -> None:
    built_in = {rule.category for rule in BUILTIN_RULES} | {"other"}
    assert built_in <= set(NAMES)
    for category, names in NAMES.items():
        assert set(names) == set(LANGUAGES), category
        assert category not in names.values(), f"{category} is shown as its id"
        assert CJK.search(names["zh"]), f"{category} has no Chinese name: {names['zh']}"
        assert not CJK.search(names["en"])


@pytest.mark.parametrize(
    ("category", "where", "language", "expected"),
    [
        ("image-pull", ("payments", "api", None, "Deployment"), "zh", "镜像拉取失败 payments/api"),
        ("crash-loop", ("shop", "checkout", "node-3", "Deployment"), "en", "Crash loop shop/checkout"),
        ("node-not-ready", (None, None, "node-7", "Node"), "en", "Node not ready node-7"),
        # A Node's own incident may carry the node's name as its workload only.
        ("node-not-ready", (None, "node-7", None, "Node"), "zh", "节点未就绪 node-7"),
        ("oom", (None, None, "node-3", "Node"), "zh", "内存溢出 node-3"),
        # A workload's trouble with a node-level cause names the node first.
        ("node-not-ready", ("shop", "web", "node-7", "Deployment"), "en", "Node not ready node-7 · shop/web"),
        ("quota", ("batch", None, None, None), "zh", "超出资源配额 batch"),
        ("volume", (None, "pv-data", None, "PersistentVolume"), "en", "Volume failing pv-data"),
        ("my-rule", ("a", "b", None, None), "zh", "my-rule a/b"),
        ("other", (None, None, None, None), "en", "Other warning"),
    ],
)
def test_titles_name_what_is_failing_where(
    category: str, where: tuple[str | None, ...], language: Language, expected: str
) -> None:
    """(namespace, workload, node, kind) as the incident carries them."""
    namespace, workload, node, kind = where
    assert title(
        category, namespace=namespace, workload=workload, node=node, kind=kind, language=language
    ) == (expected)


def test_unknown_categories_are_shown_as_spelled() -> None:
    assert category_name("gpu-xid", "zh") == "gpu-xid"
    assert category_name("crash-loop", "zh") == "容器崩溃重启"
