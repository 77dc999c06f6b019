"""Which receivers an incident goes to: Alertmanager's routing tree over the incident's labels.

Every receiver's notifier consumes every incident and keeps those the tree routes to it,
so routing is a pure function of the labels that each notifier evaluates for itself, and
no stage has to agree with another on where an incident went.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from runtime.config import (
    MATERIAL_CHANGES,
    ConfigError,
    ConfigIssue,
    HeraldConfig,
    RootRouteSettings,
    RouteSettings,
)
from schemas.clean import Severity
from schemas.incident import Change
from schemas.matchers import Matcher, MatchOp, match_all


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A receiver an incident is routed to, with the delivery options of the route that chose it.

    ``send_resolved`` false means resolved updates are not delivered, ``send_quiet`` false that
    quiet closes (no recovery Event) are not; ``repeat_interval_seconds`` None means every update
    is delivered, otherwise an unchanged firing incident at most that often. ``notify_on`` is
    which changes are news to this route (the first page, repeats and closes always are).
    """

    receiver: str
    send_resolved: bool
    repeat_interval_seconds: float | None
    send_quiet: bool = True
    notify_on: frozenset[Change] = frozenset(MATERIAL_CHANGES)


@dataclass(frozen=True, slots=True)
class _Route:
    matchers: tuple[Matcher, ...]
    continue_: bool
    target: RouteMatch
    routes: tuple[_Route, ...]

    def match(self, labels: Mapping[str, str]) -> list[RouteMatch]:
        """Alertmanager's ``Route.Match``: the deepest matching routes, left to right."""
        if not match_all(self.matchers, labels):
            return []
        found: list[RouteMatch] = []
        for child in self.routes:
            matches = child.match(labels)
            found.extend(matches)
            if matches and not child.continue_:
                break
        return found or [self.target]


def _resolve(settings: RouteSettings, parent: RouteMatch) -> _Route:
    """Fill in what the route leaves unset from its parent, once, instead of at every match."""
    repeat = settings.repeat_interval_seconds
    target = RouteMatch(
        receiver=parent.receiver if settings.receiver is None else settings.receiver,
        send_resolved=parent.send_resolved if settings.send_resolved is None else settings.send_resolved,
        repeat_interval_seconds=parent.repeat_interval_seconds if repeat is None else (repeat or None),
        send_quiet=parent.send_quiet if settings.send_quiet is None else settings.send_quiet,
        notify_on=parent.notify_on if settings.notify_on is None else frozenset(settings.notify_on),
    )
    return _Route(
        matchers=tuple(settings.matchers),
        continue_=settings.continue_,
        target=target,
        routes=tuple(_resolve(child, target) for child in settings.routes),
    )


class RouteTree:
    """The routing tree, its inherited options resolved."""

    def __init__(self, root: RootRouteSettings) -> None:
        self._root = _resolve(root, RouteMatch(root.receiver, root.send_resolved, None))

    @classmethod
    def from_config(cls, config: HeraldConfig) -> RouteTree:
        """The configured tree; without one, every receiver gets every incident (kube-eventer's way),
        which is a tree with one match-all ``continue`` route per receiver."""
        if config.route is not None:
            return cls(config.route)
        names = [entry.name for entry in config.receivers]
        if not names:
            raise ConfigError([ConfigIssue(config.source_file, ("receivers",), None, "none configured")])
        every = [{"receiver": name, "continue": True} for name in names]
        return cls(RootRouteSettings.model_validate({"receiver": names[0], "routes": every}))

    def routes_for(self, labels: Mapping[str, str]) -> list[RouteMatch]:
        """Where an incident with these labels goes, never nowhere (the root matches everything).

        A receiver reached by several routes is listed once, with the options of the first
        route to reach it (depth-first order): a receiver has one notifier, which delivers an
        incident once, whereas Alertmanager would notify it once per route.
        """
        first: dict[str, RouteMatch] = {}
        for match in self._root.match(labels):
            first.setdefault(match.receiver, match)
        return list(first.values())

    def match_for(self, labels: Mapping[str, str], receiver: str) -> RouteMatch | None:
        """How ``receiver`` delivers an incident with these labels; None if it is not routed there."""
        return next((match for match in self.routes_for(labels) if match.receiver == receiver), None)


def kube_eventer_matchers(
    *,
    level: str | None = None,
    namespaces: str | None = None,
    kinds: str | None = None,
    reason: str | None = None,
) -> list[Matcher]:
    """Matchers that select what a kube-eventer sink with these query parameters would send.

    ``level=Warning`` keeps incidents of severity warning or above; ``Normal`` keeps all, as
    in every kube-eventer sink. ``namespaces``
    and ``kinds`` are comma lists of exact values. ``reason`` is a comma list of regular
    expressions that, as in Go's ``regexp.Match``, may match anywhere in the reason. Only
    incidents whose occurrences all agree carry ``kind`` and ``reason`` labels, so a filter
    on them passes a mixed incident only if it accepts the empty value.
    """
    matchers: list[Matcher] = []
    if level == "Warning":
        at_least = [s.value for s in Severity if s.rank >= Severity.WARNING.rank]
        matchers.append(_matcher("severity", "|".join(at_least)))
    elif level not in (None, "Normal"):
        raise ValueError(f"level must be Normal or Warning, not {level!r}")
    # kube-eventer filtered on the event's own object kind (Pod), not its workload's.
    for name, values in (("namespace", namespaces), ("object_kind", kinds)):
        exact = _comma_list(values)
        if exact:
            matchers.append(_matcher(name, "|".join(re.escape(value) for value in exact)))
    patterns = _comma_list(reason)
    if patterns:
        matchers.append(_matcher("reason", ".*(?:" + "|".join(f"(?:{p})" for p in patterns) + ").*"))
    return matchers


def _comma_list(values: str | None) -> list[str]:
    return [value.strip() for value in (values or "").split(",") if value.strip()]


def _matcher(name: str, pattern: str) -> Matcher:
    return Matcher(name=name, op=MatchOp.REGEX, value=pattern)
