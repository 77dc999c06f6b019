"""Which incidents the next tick could change, without reading every incident at every tick.

The tick timer used to deserialize every open incident each ``tick_seconds``: with
thousands of open incidents that alone took a worker's core. The index keeps, per incident
of this worker's partitions, the earliest time a timed action can fall due
(:func:`processors.core.incident.wake_at`) and whether it is inhibited (its source may resolve
at any moment). The timer reads only those incidents. After a start or a rebalance it is
rebuilt from the table (:meth:`DueIndex.load`) once the table is whole again.
"""

from __future__ import annotations

from collections.abc import Iterable

from processors.core.incident import IncidentState, Timing, wake_at


class DueIndex:
    def __init__(self, timing: Timing) -> None:
        self._timing = timing
        self._wake_at: dict[bytes, float] = {}
        self._inhibited: set[bytes] = set()

    def load(self, incidents: Iterable[tuple[bytes, IncidentState]]) -> None:
        """Index exactly these incidents (what the table holds after a rebalance)."""
        self._wake_at.clear()
        self._inhibited.clear()
        for key, state in incidents:
            self.track(key, state)

    def track(self, key: bytes, state: IncidentState) -> None:
        """Record the state just written for ``key``."""
        self._wake_at[key] = wake_at(state, self._timing)
        if state.inhibited_by:
            self._inhibited.add(key)
        else:
            self._inhibited.discard(key)

    def forget(self, key: bytes) -> None:
        self._wake_at.pop(key, None)
        self._inhibited.discard(key)

    def candidates(self, now: float) -> list[bytes]:
        """Incidents a tick at ``now`` may change: a timed action has fallen due, or inhibited."""
        due = [key for key, at in self._wake_at.items() if at <= now]
        return due + [key for key in self._inhibited if self._wake_at.get(key, 0.0) > now]

    def __len__(self) -> int:
        return len(self._wake_at)
