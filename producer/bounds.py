"""Fitting any Event the API returns into one Kafka record, instead of failing on it.

A tenant can create an Event as large as the API server accepts (about 1.5 MB) with
anything in it; the raw topic takes records of ``max.message.bytes`` (about 1 MB by
default). The producer keeps such an Event, cut:

1. every string over its bound (schemas/bounds.py: 16 KiB for the message, 4 KiB for any
   other string or map key) keeps its prefix and a marker naming the original size;
2. if the envelope is still over the budget, whole sections nobody alerts on go, in
   :data:`SHED_ORDER` (managedFields, annotations, labels, related, series);
3. if even that does not fit (a tenant's thousands of small fields), the Event cannot be
   published and is quarantined with its identity instead (:class:`TooLargeError`).

Each cut is listed in the envelope's ``cut`` field, so a reader knows what it lacks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from schemas import RawMessage
from schemas.bounds import MESSAGE_MAX_BYTES, STRING_MAX_BYTES, cut_text, utf8_size

MESSAGE_FIELDS = frozenset({"message", "note"})
"""Top-level fields that hold the Event's text (core/v1 and events.k8s.io/v1)."""
SHED_ORDER: tuple[tuple[str, ...], ...] = (
    ("metadata", "managedFields"),
    ("metadata", "annotations"),
    ("metadata", "labels"),
    ("related",),
    ("series",),
)
"""Sections removed, in this order, from an Event still over budget once its strings are cut."""
MAX_LISTED_CUTS = 20
"""Cuts listed one by one in the envelope; the rest are summed up in one more entry."""
MAX_DEPTH = 32
"""Nesting no Event needs (its deepest field, a managedFields entry, is a few levels down); a
container deeper than this is removed, as orjson refuses to encode past 255 levels."""

_REMOVED = object()
"""What :func:`_bound` returns for a container too deep to keep: its holder leaves it out."""

Cuts = list[dict[str, Any]]
Encode = Callable[[dict[str, Any], Cuts], RawMessage]
"""Builds the envelope of an Event with the cuts made so far (schemas.raw_message, bound)."""


class TooLargeError(ValueError):
    """The Event does not fit one record even cut: it is quarantined, not published."""


def fit(event: dict[str, Any], encode: Encode, *, budget: int) -> tuple[RawMessage, Cuts]:
    """The envelope of ``event`` within its bounds and within ``budget`` bytes, and what was cut.

    The common case costs one encoding: an envelope no larger than the smallest bound
    cannot hold a string over it.
    """
    try:
        message: RawMessage | None = encode(event, [])
    except orjson.JSONEncodeError:  # nested past orjson's limit: _bound removes what is too deep
        message = None
    if message is not None and len(message.value) <= min(STRING_MAX_BYTES, budget):
        return message, []
    cuts: Cuts = []
    bounded = _bound(event, path="", cuts=cuts, depth=0)
    message = encode(bounded, cuts) if cuts or message is None else message
    for section in SHED_ORDER:
        if len(message.value) <= budget:
            return message, cuts
        if _remove(bounded, section, cuts):
            message = encode(bounded, cuts)
    if len(message.value) <= budget:
        return message, cuts
    raise TooLargeError(
        f"{len(message.value)} bytes after cutting every string and removing "
        f"{', '.join('.'.join(s) for s in SHED_ORDER)}; the topic takes {budget}"
    )


def bounded_cuts(cuts: Cuts) -> Cuts:
    """The cuts as the envelope lists them: the first few, then how many more and their size,
    so that the list of what was cut cannot itself outgrow the record."""
    if len(cuts) <= MAX_LISTED_CUTS:
        return cuts
    rest = cuts[MAX_LISTED_CUTS - 1 :]
    summary = {"field": f"({len(rest)} more fields)", "bytes": sum(c["bytes"] for c in rest), "action": "cut"}
    return [*cuts[: MAX_LISTED_CUTS - 1], summary]


def _bound(value: Any, *, path: str, cuts: Cuts, depth: int) -> Any:
    """A copy of ``value`` whose strings are within their bounds, and whose containers nested
    deeper than :data:`MAX_DEPTH` are removed (a tenant's managedFields can nest 300 deep)."""
    if depth >= MAX_DEPTH and isinstance(value, dict | list):
        cuts.append({"field": path, "bytes": _size(value), "action": "removed"})
        return _REMOVED
    if isinstance(value, str):
        limit = MESSAGE_MAX_BYTES if path in MESSAGE_FIELDS else STRING_MAX_BYTES
        cut = cut_text(value, limit)
        if cut is not value:
            cuts.append({"field": path, "bytes": utf8_size(value), "action": "cut"})
        return cut
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = cut_text(key, STRING_MAX_BYTES)
            if name is not key:
                cuts.append({"field": _join(path, name), "bytes": utf8_size(key), "action": "cut"})
            kept = _bound(item, path=_join(path, name), cuts=cuts, depth=depth + 1)
            if kept is not _REMOVED:
                out[name] = kept
        return out
    if isinstance(value, list):
        items = (
            _bound(item, path=f"{path}[{index}]", cuts=cuts, depth=depth + 1)
            for index, item in enumerate(value)
        )
        return [item for item in items if item is not _REMOVED]
    return value


def _remove(event: dict[str, Any], section: tuple[str, ...], cuts: Cuts) -> bool:
    """Remove one section if present, noting its encoded size; whether anything went."""
    *parents, last = section
    holder: Any = event
    for name in parents:
        holder = holder.get(name) if isinstance(holder, dict) else None
    if not isinstance(holder, dict) or last not in holder:
        return False
    removed = holder.pop(last)
    name = ".".join(section)
    cuts[:] = [c for c in cuts if not c["field"].startswith((f"{name}.", f"{name}["))]
    cuts.append({"field": name, "bytes": len(orjson.dumps(removed)), "action": "removed"})
    return True


def _size(value: Any) -> int:
    """The JSON size of a value too deep for orjson."""
    try:
        return len(json.dumps(value, ensure_ascii=False).encode())
    except (RecursionError, TypeError, ValueError):
        return 0


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
