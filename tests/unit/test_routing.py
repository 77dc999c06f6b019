from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifiers.routing import RouteMatch, RouteTree, kube_eventer_matchers
from runtime.config import MATERIAL_CHANGES, ConfigError, RootRouteSettings, load_config
from schemas.incident import Change
from schemas.matchers import Matcher, match_all


def tree(route: dict[str, Any]) -> RouteTree:
    return RouteTree(RootRouteSettings.model_validate(route))


def receivers(route_tree: RouteTree, **labels: str) -> list[str]:
    return [match.receiver for match in route_tree.routes_for(labels)]


NESTED = tree(
    {
        "receiver": "default",
        "routes": [
            {
                "receiver": "team-a",
                "matchers": ["team=a"],
                "routes": [{"receiver": "pager", "matchers": ['severity="critical"']}],
            },
            {"receiver": "team-b", "matchers": ["team=b"]},
        ],
    }
)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"team": "a", "severity": "critical"}, ["pager"]),
        ({"team": "a", "severity": "warning"}, ["team-a"]),
        ({"team": "b", "severity": "critical"}, ["team-b"]),
        ({"team": "c"}, ["default"]),
        ({}, ["default"]),
    ],
)
def test_the_deepest_matching_route_wins_and_the_root_takes_the_rest(
    labels: dict[str, str], expected: list[str]
) -> None:
    assert receivers(NESTED, **labels) == expected


def test_the_first_matching_sibling_stops_the_search_unless_it_continues() -> None:
    def siblings(first_continues: bool) -> RouteTree:
        return tree(
            {
                "receiver": "default",
                "routes": [
                    {"receiver": "audit", "matchers": ["cluster=~.+"], "continue": first_continues},
                    {"receiver": "ops", "matchers": ["namespace=prod"]},
                    {"receiver": "late", "matchers": ["namespace=prod"]},
                ],
            }
        )

    assert receivers(siblings(False), cluster="c1", namespace="prod") == ["audit"]
    assert receivers(siblings(True), cluster="c1", namespace="prod") == ["audit", "ops"]
    # A continuing route that matched alone still counts: the root is not added.
    assert receivers(siblings(True), cluster="c1", namespace="dev") == ["audit"]


def test_a_route_without_receiver_or_options_inherits_its_parents() -> None:
    route_tree = tree(
        {
            "receiver": "default",
            "send_resolved": False,
            "repeat_interval_seconds": 3600,
            "routes": [
                {
                    "matchers": ["namespace=prod"],
                    "repeat_interval_seconds": 600,
                    "routes": [
                        {"matchers": ["severity=critical"], "receiver": "pager", "send_resolved": True},
                        {"matchers": ["severity=warning"], "repeat_interval_seconds": 0},
                    ],
                },
            ],
        }
    )
    routes = route_tree.routes_for
    assert routes({"namespace": "dev"}) == [RouteMatch("default", False, 3600)]
    assert routes({"namespace": "prod"}) == [RouteMatch("default", False, 600)]
    assert routes({"namespace": "prod", "severity": "critical"}) == [RouteMatch("pager", True, 600)]
    # 0 undoes an inherited interval: every update is delivered.
    assert routes({"namespace": "prod", "severity": "warning"}) == [RouteMatch("default", False, None)]


def test_root_defaults_deliver_resolved_and_every_update() -> None:
    assert tree({"receiver": "r"}).routes_for({}) == [RouteMatch("r", True, None)]


def test_regular_expressions_match_the_whole_value() -> None:
    route_tree = tree(
        {"receiver": "default", "routes": [{"receiver": "prod", "matchers": ["namespace=~prod"]}]}
    )
    assert receivers(route_tree, namespace="prod") == ["prod"]
    assert receivers(route_tree, namespace="prod-eu") == ["default"]
    assert receivers(route_tree, namespace="pre-prod") == ["default"]


def test_negative_matchers() -> None:
    route_tree = tree(
        {
            "receiver": "default",
            "routes": [
                {"receiver": "apps", "matchers": ["namespace!=kube-system", 'category!~"info|debug"']},
            ],
        }
    )
    assert receivers(route_tree, namespace="shop", category="crash-loop") == ["apps"]
    assert receivers(route_tree, namespace="kube-system", category="crash-loop") == ["default"]
    assert receivers(route_tree, namespace="shop", category="debug") == ["default"]


def test_an_absent_label_matches_as_the_empty_string() -> None:
    route_tree = tree(
        {
            "receiver": "default",
            "routes": [
                {"receiver": "nodes", "matchers": ['node!=""']},
                {"receiver": "unscheduled", "matchers": ['node=""']},
            ],
        }
    )
    assert receivers(route_tree, node="n1") == ["nodes"]
    assert receivers(route_tree) == ["unscheduled"]
    assert receivers(route_tree, node="") == ["unscheduled"]


def test_a_receiver_reached_twice_is_listed_once_with_the_first_routes_options() -> None:
    route_tree = tree(
        {
            "receiver": "default",
            "routes": [
                {"receiver": "ops", "matchers": ["team=a"], "continue": True, "send_resolved": False},
                {"receiver": "ops", "matchers": ["severity=critical"], "continue": True},
                {"receiver": "pager", "matchers": ["severity=critical"]},
            ],
        }
    )
    assert route_tree.routes_for({"team": "a", "severity": "critical"}) == [
        RouteMatch("ops", False, None),
        RouteMatch("pager", True, None),
    ]
    assert route_tree.match_for({"team": "a", "severity": "critical"}, "ops") == RouteMatch(
        "ops", False, None
    )
    assert route_tree.match_for({"team": "b"}, "ops") is None
    assert route_tree.match_for({"team": "b"}, "default") == RouteMatch("default", True, None)


def test_without_a_route_every_receiver_gets_every_incident(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text("receivers:\n  - {name: ops, type: webhook}\n  - {name: chat, type: dingtalk}\n")
    route_tree = RouteTree.from_config(load_config(path, env={}))
    assert route_tree.routes_for({"namespace": "any"}) == [
        RouteMatch("ops", True, None),
        RouteMatch("chat", True, None),
    ]
    with pytest.raises(ConfigError, match="receivers: none configured"):
        RouteTree.from_config(load_config(None, env={}))


def test_the_configured_route_is_used(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text(
        "receivers:\n  - {name: ops, type: webhook}\n  - {name: chat, type: dingtalk}\n"
        "route:\n  receiver: ops\n  routes:\n    - receiver: chat\n      matchers: ['severity=critical']\n"
    )
    route_tree = RouteTree.from_config(load_config(path, env={}))
    assert receivers(route_tree, severity="critical") == ["chat"]
    assert receivers(route_tree, severity="warning") == ["ops"]


# kube-eventer's per-sink filters


def passes(matchers: list[Matcher], **labels: str) -> bool:
    return match_all(matchers, labels)


def test_kube_eventer_level() -> None:
    warning = kube_eventer_matchers(level="Warning")
    assert passes(warning, severity="warning")
    assert passes(warning, severity="critical")
    assert not passes(warning, severity="info")
    assert kube_eventer_matchers(level="Normal") == []
    assert kube_eventer_matchers() == []
    with pytest.raises(ValueError, match="level must be Normal or Warning"):
        kube_eventer_matchers(level="warning")


def test_kube_eventer_namespaces_and_kinds_are_exact_comma_lists() -> None:
    matchers = kube_eventer_matchers(namespaces="kube-system, my.app", kinds="Pod,Node")
    assert passes(matchers, namespace="my.app", object_kind="Pod")
    assert passes(matchers, namespace="kube-system", object_kind="Node")
    assert not passes(matchers, namespace="myxapp", object_kind="Pod")  # the dot is literal
    assert not passes(matchers, namespace="kube-system-2", object_kind="Pod")
    assert not passes(matchers, namespace="kube-system", object_kind="Deployment")
    assert not passes(matchers, object_kind="Pod")  # no namespace label: not in the list
    assert kube_eventer_matchers(namespaces="", kinds=" , ") == []


def test_kube_eventer_reason_patterns_match_anywhere_like_go_regexp_match() -> None:
    matchers = kube_eventer_matchers(reason="BackOff,^OOM")
    assert passes(matchers, reason="ImagePullBackOff")
    assert passes(matchers, reason="BackOffPullImage")
    assert passes(matchers, reason="OOMKilling")
    assert not passes(matchers, reason="SystemOOM")
    assert not passes(matchers, reason="Killing")
    assert not passes(matchers)


def test_kube_eventer_matchers_round_trip_through_the_text_form() -> None:
    matchers = kube_eventer_matchers(level="Warning", namespaces='a"b,c\\d', kinds="Pod", reason="Back.ff")
    assert [Matcher.model_validate(str(matcher)) for matcher in matchers] == matchers


# Configuration errors, located like every other key


def load_route(tmp_path: Path, route: str) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text("receivers:\n  - {name: ops, type: webhook}\n  - {name: chat, type: webhook}\n" + route)
    load_config(path, env={})


def error_lines(tmp_path: Path, route: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_route(tmp_path, route)
    prefix = f"{tmp_path / 'herald.yaml'}:"
    return [line.removeprefix(prefix) for line in str(caught.value).splitlines()]


def test_an_unknown_receiver_is_located_at_its_key(tmp_path: Path) -> None:
    route = (
        "route:\n"  # line 4
        "  receiver: ops\n"
        "  routes:\n"
        "    - matchers: [team=a]\n"
        "      routes:\n"
        "        - receiver: chat\n"
        "        - receiver: pagr\n"  # line 10
    )
    assert error_lines(tmp_path, route) == [
        "10: route.routes[0].routes[1].receiver: must name one of the receivers: chat, ops (got 'pagr')"
    ]


def test_the_root_needs_a_receiver_and_no_matchers_or_continue(tmp_path: Path) -> None:
    lines = error_lines(tmp_path, "route:\n  matchers: [team=a]\n  continue: true\n")
    assert lines[0] == "4: route.receiver: required key is missing"
    assert lines[1].startswith("5: route.matchers: Value error, the root route matches every incident")
    assert lines[2].startswith("6: route.continue: Value error, the root route matches every incident")
    assert len(lines) == 3


def test_a_misspelt_continue_is_an_unknown_key(tmp_path: Path) -> None:
    route = "route:\n  receiver: ops\n  routes:\n    - receiver: chat\n      contine: true\n"
    expected = "8: route.routes[0].contine: unknown key (did you mean continue?)"
    assert error_lines(tmp_path, route) == [expected]


def test_a_bad_matcher_in_a_route_is_located(tmp_path: Path) -> None:
    route = "route:\n  receiver: ops\n  routes:\n    - matchers: ['team=~(']\n"
    [line] = error_lines(tmp_path, route)
    assert line.startswith(
        "7: route.routes[0].matchers[0]: Value error, team: not a valid regular expression"
    )


# Properties over random trees and label sets

NAMES = ("team", "severity", "namespace")
VALUES = ("a", "b", "")
matcher_text = st.builds(
    "{}{}{}".format,
    st.sampled_from(NAMES),
    st.sampled_from(["=", "!=", "=~", "!~"]),
    st.sampled_from([*VALUES, "a|b", ".*"]),
)
route_fields = st.fixed_dictionaries(
    {},
    optional={
        "receiver": st.sampled_from(["r1", "r2", "r3"]),
        "matchers": st.lists(matcher_text, max_size=2),
        "continue": st.booleans(),
        "send_resolved": st.booleans(),
        "repeat_interval_seconds": st.sampled_from([0, 60]),
    },
)
routes = st.recursive(
    st.lists(route_fields, max_size=3),
    lambda children: st.lists(
        st.builds(lambda fields, sub: {**fields, "routes": sub}, route_fields, children), max_size=3
    ),
    max_leaves=12,
)
label_sets = st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES))


@given(routes=routes, labels=label_sets)
def test_every_incident_goes_somewhere_and_to_each_receiver_once(
    routes: list[dict[str, Any]], labels: dict[str, str]
) -> None:
    found = tree({"receiver": "r0", "routes": routes}).routes_for(labels)
    names = [match.receiver for match in found]
    assert names
    assert len(names) == len(set(names))


# What is news for a route: notify_on and send_quiet, inherited like send_resolved


def test_notify_on_and_send_quiet_are_inherited_and_default_to_everything() -> None:
    route_tree = tree(
        {
            "receiver": "chat",
            "routes": [
                {
                    "matchers": ["team=a"],
                    "receiver": "team-a",
                    "notify_on": ["new-object", "severity"],
                    "send_quiet": False,
                    "routes": [
                        {"matchers": ["severity=critical"], "receiver": "pager"},
                        {"matchers": ["severity=info"], "notify_on": [], "send_quiet": True},
                    ],
                },
            ],
        }
    )
    everything = frozenset(MATERIAL_CHANGES)
    assert everything == frozenset(Change) - {Change.OPENED, Change.REPEAT, Change.RESOLVED}
    [default] = route_tree.routes_for({"team": "b"})
    assert (default.receiver, default.notify_on, default.send_quiet) == ("chat", everything, True)
    asked = frozenset({Change.NEW_OBJECT, Change.SEVERITY})
    [team] = route_tree.routes_for({"team": "a"})
    assert (team.receiver, team.notify_on, team.send_quiet) == ("team-a", asked, False)
    [pager] = route_tree.routes_for({"team": "a", "severity": "critical"})
    assert (pager.receiver, pager.notify_on, pager.send_quiet) == ("pager", asked, False)
    [info] = route_tree.routes_for({"team": "a", "severity": "info"})
    assert (info.receiver, info.notify_on, info.send_quiet) == ("team-a", frozenset(), True)


def test_the_root_can_narrow_notify_on_for_the_whole_tree() -> None:
    route_tree = tree(
        {"receiver": "r", "notify_on": ["severity"], "send_quiet": False, "routes": [{"receiver": "s"}]}
    )
    [match] = route_tree.routes_for({})
    assert (match.receiver, match.notify_on, match.send_quiet) == ("s", frozenset({Change.SEVERITY}), False)


@pytest.mark.parametrize("always", ["opened", "repeat", "resolved"])
def test_notify_on_refuses_what_is_always_sent_saying_where(tmp_path: Path, always: str) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text(
        "receivers:\n  - {name: ops, type: webhook}\n"
        f"route:\n  receiver: ops\n  routes:\n    - notify_on: [rate, {always}]\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={})
    assert f"{path}:6: route.routes[0].notify_on: Value error, {always}: always delivered" in str(
        raised.value
    )
