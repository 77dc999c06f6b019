"""The variables templates see are documented from one model (notifiers/templating.py), and that
model is exactly what the renderer gives templates: docs/templates.md and ``herald render
--list-vars`` cannot drift from the code."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from herald import template_reference
from notifiers.notification import Notification
from notifiers.preview import scenarios
from notifiers.templating import (
    CONTEXT_VARIABLES,
    EVENT_KEYS,
    INCIDENT_KEYS,
    LINK_VARIABLES,
    RECEIVER_VARIABLES,
    RELATED_KEYS,
    SAMPLE_KEYS,
    Renderer,
    TemplateRef,
    Variable,
    flatten,
)
from tests.unit.test_golden_messages import VARIANTS

NOW = datetime(2026, 12, 6, 0, 12, 7, tzinfo=UTC)
SCENARIOS = scenarios(NOW)


def names(variables: tuple[Variable, ...]) -> set[str]:
    return {variable.name for variable in variables}


def keys_of(name: str, variables: tuple[Variable, ...]) -> set[str]:
    return names(next(v for v in variables if v.name == name).keys)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("language", ["en", "zh"])
def test_documented_variables_are_exactly_what_templates_get(scenario: str, language: Any) -> None:
    renderer = Renderer(language=language, link_template="https://grafana.example/{{ incident.cluster }}")
    context = renderer.context(SCENARIOS[scenario])
    assert set(context) == names(CONTEXT_VARIABLES)
    assert set(context["t"]) == keys_of("t", CONTEXT_VARIABLES)
    for incident in context["incidents"]:
        assert set(incident) == names(INCIDENT_KEYS)
        for sample in incident["samples"]:
            assert set(sample) == names(SAMPLE_KEYS)
        assert set(incident["latest"]) == names(SAMPLE_KEYS)
        for related in incident["related"]:
            assert set(related) == names(RELATED_KEYS)
        if incident["recovery"] is not None:
            assert set(incident["recovery"]) == names(EVENT_KEYS)


def test_the_scenarios_exercise_every_optional_key() -> None:
    """The key-set test above means something only if some sample has each nested mapping."""
    views = [view for n in SCENARIOS.values() for view in Renderer().context(n)["incidents"]]
    assert any(view["recovery"] for view in views)
    assert any(view["related"] for view in views)


def test_the_link_template_sees_the_incident_without_its_link() -> None:
    renderer = Renderer(link_template="{{ incident.keys() | list | tojson }}")
    link = renderer.context(SCENARIOS["firing"])["incident"]["link"]
    assert names(LINK_VARIABLES) == {"incident"}
    assert set(orjson.loads(str(link))) == names(INCIDENT_KEYS) - {"link"}


def test_receivers_pass_exactly_the_documented_extra_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    original = Renderer._render

    def spy(
        self: Renderer, ref: TemplateRef, notification: Notification, markup: Any, extra: Mapping[str, Any]
    ) -> str:
        seen[current].update(extra)
        return original(self, ref, notification, markup, extra)

    monkeypatch.setattr(Renderer, "_render", spy)
    for variant, build in VARIANTS.items():
        current = variant.split(".")[0]
        for notification in SCENARIOS.values():
            build(Renderer()).preview(notification)
    documented: dict[str, set[str]] = defaultdict(set)
    for variable in RECEIVER_VARIABLES:
        for receiver in variable.receivers:
            documented[receiver].add(variable.name)
    assert {k: v for k, v in seen.items() if v} == dict(documented)


def test_paths_name_nested_keys() -> None:
    paths = dict(flatten(CONTEXT_VARIABLES))
    assert {
        "incident.samples[].time",
        "incident.recovery.reason",
        "incident.related[].node",
        "t.firing",
    } <= set(paths)
    assert paths["incident.labels"].type == "map of string to string"


def test_committed_reference_is_current() -> None:
    assert template_reference.DOC.read_text(encoding="utf-8") == template_reference.render(
        template_reference.sections()
    ), f"docs/templates.md is stale: run {template_reference.COMMAND}"


def test_check_fails_with_a_diff_when_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "templates.md"
    stale.write_text(
        template_reference.render(template_reference.sections()).replace(
            "`incident.count_text`", "`incident.count`"
        )
    )
    monkeypatch.setattr(template_reference, "DOC", stale)
    assert template_reference.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "-| `incident.count` |" in err
    assert "+| `incident.count_text` |" in err
    assert f"out of date; run {template_reference.COMMAND}" in err
    assert template_reference.main([]) == 0
    assert template_reference.main(["--check"]) == 0


def test_another_template_language_is_one_more_section() -> None:
    go = template_reference.mapping_section(
        "kube-eventer Go templates (`custom_body`)",
        "For a WeCom receiver's `custom_body`.",
        {".InvolvedObject.Name": "The Event's object's name.", ".Reason": "The Event's reason."},
    )
    text = template_reference.render([*template_reference.sections(), go])
    assert "## kube-eventer Go templates (`custom_body`)" in text
    assert "| `.InvolvedObject.Name` | The Event's object's name. |" in text


def test_list_vars_is_a_table_of_every_variable() -> None:
    table = template_reference.variable_table(width=120)
    lines = table.splitlines()
    for path, variable in [*flatten(CONTEXT_VARIABLES), *((v.name, v) for v in RECEIVER_VARIABLES)]:
        assert any(line.split()[:1] == [path] and variable.type in line for line in lines), path
    assert any(line.split()[:1] == ["localtime"] for line in lines)
    assert max(map(len, lines)) <= 120


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ incident.headline }}", "incident"),
        ("{{ incidents[0].headline }}", "incidents[0]"),
        ("{% if incidents %}{{ (incidents | first).headline }}{% endif %}", "incidents | first"),
        ("{% set i = incident %}{{ i.headline }}", "incident"),
        ("{% for incident in incidents %}{{ incident.headline }}{% endfor %}", None),
        ("{{ incidents | length }} {{ t.digest }}: {{ incident.headline }} …", None),
        (
            "{% if digest %}{{ incidents | map(attribute='x') | join }}{% else %}{{ incident.x }}{% endif %}",
            None,
        ),
        ("{{ {'incidents': incidents} | tojson }}", None),
        ("static text", None),
    ],
)
def test_reading_only_the_first_incident_is_found(source: str, expected: str | None) -> None:
    read = Renderer().first_incident_only(TemplateRef("inline", source))
    assert (read and read.expression) == expected


def test_an_included_template_counts(tmp_path: Path) -> None:
    (tmp_path / "main.j2").write_text("header\n{% include 'part.j2' %}\n")
    (tmp_path / "part.j2").write_text("\n\n{{ incident.headline }}\n")
    (tmp_path / "loop.j2").write_text("{% for i in incidents %}{% include 'part.j2' %}{% endfor %}")
    renderer = Renderer(templates_dir=tmp_path)
    read = renderer.first_incident_only(TemplateRef("file", "main.j2"))
    assert read is not None
    assert (read.template, read.line) == ("part.j2", 3)
    assert renderer.first_incident_only(TemplateRef("file", "loop.j2")) is None


def test_no_packaged_template_reads_only_the_first_incident() -> None:
    packaged = Path(__file__).parents[2] / "notifiers" / "templates"
    renderer = Renderer()
    for path in sorted(packaged.glob("*.j2")):
        if not path.name.startswith("ui_"):  # the web pages are not receivers' templates
            assert renderer.first_incident_only(TemplateRef("file", path.name)) is None, path.name
