"""User classification rules: after the built-in taxonomy, the user's word is final."""

from __future__ import annotations

import re
from dataclasses import dataclass

from runtime.config import ClassificationRule
from schemas import CleanEvent, Severity


@dataclass(frozen=True)
class CompiledRule:
    rule: ClassificationRule
    patterns: tuple[tuple[str, re.Pattern[str]], ...]

    def matches(self, fields: dict[str, str]) -> bool:
        return all(fields.get(name, "") == value for name, value in self.rule.match.items()) and all(
            pattern.fullmatch(fields.get(name, "")) for name, pattern in self.patterns
        )


def compile_rules(rules: list[ClassificationRule]) -> tuple[CompiledRule, ...]:
    return tuple(
        CompiledRule(rule, tuple((name, re.compile(pattern)) for name, pattern in rule.match_re.items()))
        for rule in rules
    )


def apply_rules(clean: CleanEvent, rules: tuple[CompiledRule, ...]) -> tuple[CleanEvent, bool]:
    """The occurrence as the rules classify it, and whether it should open no incident."""
    if not rules:
        return clean, False
    fields = {
        "cluster": clean.cluster,
        "namespace": clean.namespace or "",
        "kind": clean.kind,
        "name": clean.name,
        "workload": clean.workload_name or "",
        "node": clean.node or "",
        "reason": clean.reason,
        "type": clean.type,
        "message": clean.message,
        "category": clean.category,
        "severity": clean.severity.value,
    }
    changes: dict[str, object] = {}
    labels = dict(clean.labels)
    for compiled in rules:
        if not compiled.matches(fields):
            continue
        rule = compiled.rule
        if rule.drop:
            return clean, True
        if rule.severity:
            changes["severity"] = Severity(rule.severity)
            fields["severity"] = rule.severity
        if rule.category:
            changes["category"] = rule.category
            fields["category"] = rule.category
        labels.update(rule.labels)
    if labels != clean.labels:
        changes["labels"] = labels
    return (clean.model_copy(update=changes) if changes else clean), False
