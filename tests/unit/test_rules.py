from __future__ import annotations

from pathlib import Path

import pytest

from processors.core.rules import apply_rules, compile_rules
from runtime.config import ClassificationRule, ConfigError, load_config
from schemas import Severity
from tests.unit.test_aggregate import clean


def test_rules_set_severity_category_and_labels_in_order() -> None:
    rules = compile_rules(
        [
            ClassificationRule(match={"namespace": "shop"}, labels={"team": "storefront"}),
            ClassificationRule(
                match_re={"message": ".*restarting.*"}, severity="warning", category="app-crash"
            ),
            ClassificationRule(match={"category": "app-crash"}, labels={"page": "no"}),
        ]
    )
    result, dropped = apply_rules(clean(), rules)
    assert not dropped
    assert result.severity == Severity.WARNING
    assert result.category == "app-crash"
    assert result.labels == {"team": "storefront", "page": "no"}


def test_drop_rule_opens_no_incident_and_regex_must_match_whole_value() -> None:
    rules = compile_rules([ClassificationRule(match_re={"reason": "Back"}, drop=True)])
    assert apply_rules(clean(), rules) == (clean(), False)
    rules = compile_rules([ClassificationRule(match_re={"reason": "Back.*"}, drop=True)])
    assert apply_rules(clean(), rules)[1] is True


def test_bad_rules_are_located_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text(
        "processor:\n  rules:\n    - match_re: {reason: '(unclosed'}\n    - match: {colour: red}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    text = str(caught.value)
    assert "processor.rules[0].match_re" in text
    assert "not a valid regular expression" in text
    assert "processor.rules[1].match.colour" in text
