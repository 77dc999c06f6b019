"""The Grafana dashboard and the Prometheus rules query only series the code exports, with
labels those series have, in PromQL that holds together (checked without promtool)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

import notifiers.metrics
import processors.metrics
import producer.metrics

MONITORING = Path(__file__).parents[2] / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"
RULES = MONITORING / "prometheus-rules.yaml"
METRIC_MODULES = (producer.metrics, processors.metrics, notifiers.metrics)
"""Importing them registers their metrics in the registry /metrics serves."""

SCRAPE_LABELS = frozenset({"job", "instance"})
"""Labels Prometheus adds to every scraped series."""
UP = "up"
"""The one series Prometheus makes itself."""
FUNCTIONS = frozenset(
    {
        "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp",
        "clamp_max", "clamp_min", "count_over_time", "delta", "deriv", "floor", "histogram_quantile",
        "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time",
        "max_over_time", "min_over_time", "predict_linear", "quantile_over_time", "rate", "resets",
        "round", "scalar", "sort", "sort_desc", "sum_over_time", "time", "timestamp", "vector",
    }
)  # fmt: skip
AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile"}
)
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset"})
COUNTER_FUNCTIONS = frozenset({"rate", "irate", "increase", "resets"})
GAUGE_FUNCTIONS = frozenset({"delta", "deriv", "idelta", "predict_linear"})
DURATION = r"\d+(?:ms|[smhdwy])"
RANGE = re.compile(rf"(?:{DURATION}|\$__rate_interval|\$__interval|\$__range)(?::{DURATION})?")


# --- what the code exports ----------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    name: str
    kind: str  # counter, gauge, histogram, ... (of the family it belongs to)
    labels: frozenset[str]


def exported_series() -> dict[str, Series]:
    """Every series name /metrics can show, from the registry the HTTP endpoint serves, with
    the suffixes each type adds (counter: _total, _created; histogram: _bucket, _count, _sum)."""
    labels: dict[str, frozenset[str]] = {}
    for module in METRIC_MODULES:
        for metric in vars(module).values():
            if isinstance(metric, MetricWrapperBase):
                labels[metric._name] = frozenset(metric._labelnames)
    series: dict[str, Series] = {}
    for family in REGISTRY.collect():
        names = {
            "counter": ["_total", "_created"],
            "histogram": ["_bucket", "_count", "_sum", "_created"],
            "summary": ["", "_count", "_sum", "_created"],
            "info": ["_info"],
        }.get(family.type, [""])
        sampled = frozenset(key for sample in family.samples for key in sample.labels)
        for suffix in names:
            extra = {"le"} if suffix == "_bucket" else set()
            known = labels.get(family.name, sampled - {"le", "quantile"})
            series[family.name + suffix] = Series(family.name + suffix, family.type, known | extra)
    return series


SERIES = exported_series()


def test_the_registry_holds_the_pipeline_metrics() -> None:
    assert "herald_producer_events_observed_total" in SERIES
    assert "herald_notifier_delivery_latency_seconds_bucket" in SERIES
    assert SERIES["herald_notifier_consumer_lag"].labels == {"receiver", "partition"}
    assert SERIES["herald_processor_consumer_lag"].labels == {"topic", "partition"}


# --- a small PromQL reader ----------------------------------------------------------------

TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<range>\[[^\]]*\])
      | (?P<duration>\d+(?:ms|[smhdwy])\b)
      | (?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
      | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
      | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},])
    )""",
    re.VERBOSE,
)


@dataclass
class Query:
    text: str
    metrics: list[str] = field(default_factory=list)
    matched: dict[str, set[str]] = field(default_factory=dict)  # metric -> labels in its {}
    grouping: set[str] = field(default_factory=set)  # labels in by/without/on/ignoring
    functions: list[tuple[str, str | None]] = field(default_factory=list)  # (function, metric argument)
    problems: list[str] = field(default_factory=list)

    @property
    def labels(self) -> set[str]:
        """Labels the result can carry: those of its series and the scrape's."""
        return set(SCRAPE_LABELS).union(*(SERIES[m].labels for m in self.metrics if m in SERIES))


def tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot read {text[position : position + 20]!r} in {text!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


def balanced(text: str) -> bool:
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for kind, value in tokens(text):
        if kind == "range":
            continue
        if value in "([{":
            stack.append(value)
        elif value in pairs and (not stack or stack.pop() != pairs[value]):
            return False
    return not stack


def parse(text: str) -> Query:  # noqa: PLR0912 (one branch per kind of token)
    query = Query(text)
    try:
        toks = tokens(text)
    except ValueError as exc:
        query.problems.append(str(exc))
        return query
    if not balanced(text):
        query.problems.append("unbalanced brackets")
    calls: list[str | None] = []  # the function or aggregation each open parenthesis belongs to
    pending: str | None = None  # a function or aggregation whose parenthesis comes next
    i = 0
    while i < len(toks):
        kind, value = toks[i]
        following = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "range" and not RANGE.fullmatch(value[1:-1]):
            query.problems.append(f"bad range {value}")
        elif kind == "ident" and value in GROUPING:
            if following != "(":
                query.problems.append(f"{value} without a label list")
            j = i + 2
            while j < len(toks) and toks[j][1] != ")":
                if toks[j][0] == "ident":
                    query.grouping.add(toks[j][1])
                elif toks[j][1] != ",":
                    query.problems.append(f"{toks[j][1]!r} in the label list of {value}")
                j += 1
            i = j + 1
            continue
        elif kind == "ident" and value in KEYWORDS:
            if value == "offset" and (following is None or toks[i + 1][0] != "duration"):
                query.problems.append("offset without a duration")
        elif kind == "ident" and (value in FUNCTIONS or value in AGGREGATIONS):
            if value in FUNCTIONS and following != "(":
                query.problems.append(f"{value} is a function: call it")
            pending = value  # "sum by (x) (" puts a label list before the parenthesis
        elif kind == "ident":
            if following == "(":
                query.problems.append(f"unknown function {value}")
            query.metrics.append(value)
            if calls and calls[-1] in FUNCTIONS and toks[i - 1][1] == "(":
                query.functions.append((calls[-1], value))
            matched = query.matched.setdefault(value, set())
            if following == "{":
                j = i + 2
                while toks[j][1] != "}":
                    label, operator, literal = toks[j], toks[j + 1], toks[j + 2]
                    if label[0] != "ident" or operator[1] not in ("=", "!=", "=~", "!~"):
                        query.problems.append(f"bad matcher in {value}{{...}}")
                    if literal[0] != "string":
                        query.problems.append(f"matcher value of {label[1]} is not a string")
                    matched.add(label[1])
                    j += 3
                    if toks[j][1] == ",":
                        j += 1
                i = j + 1
                continue
        elif value == "(":
            calls.append(pending)
            pending = None
        elif value == ")" and calls:
            calls.pop()
        elif value == "{":
            query.problems.append("a selector without a metric name")
        i += 1
    return query


def check(query: Query, where: str) -> list[str]:
    problems = [f"{where}: {p}" for p in query.problems]
    if not query.metrics:
        problems.append(f"{where}: queries no series")
    for metric in query.metrics:
        if metric == UP:
            unknown = query.matched.get(metric, set()) - SCRAPE_LABELS
        elif metric not in SERIES:
            problems.append(f"{where}: {metric} is not exported by the code")
            continue
        else:
            unknown = query.matched.get(metric, set()) - SERIES[metric].labels - SCRAPE_LABELS
        if unknown:
            problems.append(f"{where}: {metric} has no label {sorted(unknown)}")
    if query.grouping - query.labels:
        problems.append(f"{where}: grouping by labels no series has: {sorted(query.grouping - query.labels)}")
    for function, metric in query.functions:
        kind = SERIES[metric].kind if metric in SERIES else "gauge"
        if function in COUNTER_FUNCTIONS and kind not in ("counter", "histogram"):
            problems.append(f"{where}: {function}() over {metric}, a {kind}")
        if function in GAUGE_FUNCTIONS and kind != "gauge":
            problems.append(f"{where}: {function}() over {metric}, a {kind}: use rate() or increase()")
    if "histogram_quantile" in query.text:
        buckets = [m for m in query.metrics if m.endswith("_bucket")]
        if not buckets or "le" not in query.grouping:
            problems.append(f"{where}: histogram_quantile needs a _bucket series aggregated by le")
    return problems


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("rate(herald_producer_events_observed[5m])", "not exported"),
        ("sum by (cluster) (rate(herald_notifier_retries_total[5m]))", "grouping by labels"),
        ("herald_producer_in_flight_events{receiver='x'}", "has no label"),
        ("sum(rate(herald_notifier_retries_total[5m])", "unbalanced"),
        ("rate(herald_producer_in_flight_events[5m])", "a gauge"),
        ("histogram_quantile(0.9, rate(herald_notifier_delivery_latency_seconds_bucket[5m]))", "by le"),
        ("herald_notifier_retries_total[5x]", "bad range"),
        ("ratez(herald_notifier_retries_total[5m])", "unknown function"),
    ],
)
def test_the_reader_catches_mistakes(text: str, complaint: str) -> None:
    assert any(complaint in problem for problem in check(parse(text), "q")), check(parse(text), "q")


# --- the dashboard ------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def dashboard_queries() -> Iterator[tuple[str, str, str]]:
    """(where, expression, legend) of every panel target."""
    for panel in all_panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r}", target["expr"], target.get("legendFormat", "")


def test_the_dashboard_is_a_grafana_dashboard_with_unique_panel_ids() -> None:
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    assert board["uid"]
    assert board["title"]
    ids = [panel["id"] for panel in all_panels(board["panels"])]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    cells: set[tuple[int, int]] = set()
    for panel in all_panels(board["panels"]):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"panel {panel['id']} is wider than the grid"
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"panel {panel['id']} overlaps another"
        cells |= area
        if panel.get("targets"):
            assert panel["datasource"]["uid"] == "${datasource}", f"panel {panel['id']}"
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs))


def test_every_dashboard_query_uses_exported_series_and_labels() -> None:
    problems = []
    for where, expr, legend in dashboard_queries():
        query = parse(expr)
        problems += check(query, where)
        shown = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))
        if shown - query.labels:
            problems.append(f"{where}: legend shows labels the series lack: {sorted(shown - query.labels)}")
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
            assert match, variable["name"]
            metric, label = match.groups()
            assert label in SERIES[metric].labels, variable["name"]
    assert problems == []


def test_the_dashboard_shows_every_pipeline_metric() -> None:
    used = {metric for _where, expr, _legend in dashboard_queries() for metric in parse(expr).metrics}
    families = {
        (f"{metric._name}_bucket" if metric._type == "histogram" else metric._name)
        + ("_total" if metric._type == "counter" else "")
        for module in METRIC_MODULES
        for metric in vars(module).values()
        if isinstance(metric, MetricWrapperBase)
    }
    assert families - used == set()


# --- the rules ----------------------------------------------------------------------------


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text())
    assert set(data) == {"groups"}
    names = [group["name"] for group in data["groups"]]
    assert len(names) == len(set(names))
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_every_rule_is_a_complete_alert() -> None:
    alerts = rules()
    names = [rule["alert"] for rule in alerts]
    assert len(names) == len(set(names))
    for rule in alerts:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, rule[
            "alert"
        ]
        assert re.fullmatch(r"Herald[A-Z][A-Za-z]+", rule["alert"])
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]


def test_every_rule_expression_uses_exported_series_and_labels() -> None:
    problems = []
    for rule in rules():
        query = parse(rule["expr"])
        problems += check(query, rule["alert"])
        text = " ".join(rule["annotations"].values())
        assert text.count("{{") == text.count("}}"), rule["alert"]
        shown = set(re.findall(r"\$labels\.(\w+)", text))
        if shown - query.labels:
            problems.append(
                f"{rule['alert']}: annotations show labels the alert lacks: {sorted(shown - query.labels)}"
            )
    assert problems == []


def test_the_rules_cover_the_pipeline() -> None:
    used = {metric for rule in rules() for metric in parse(rule["expr"]).metrics}
    assert used >= {
        "up",
        "herald_producer_last_event_timestamp_seconds",
        "herald_producer_events_failed_total",
        "herald_processor_consumer_lag",
        "herald_processor_quarantined_total",
        "herald_notifier_consumer_lag",
        "herald_notifier_dead_letters_total",
        "herald_notifier_retries_total",
        "herald_notifier_delivery_latency_seconds_bucket",
    }
