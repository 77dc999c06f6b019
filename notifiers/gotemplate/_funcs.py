"""The built-in functions of Go's text/template, over the Python values that stand for Go's.

``and`` and ``or`` are listed in :data:`ARITY` only: they evaluate their arguments lazily, so
the executor runs them itself.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence

from ._errors import FuncError
from ._fmt import sprint, sprintf, sprintln, type_name
from ._time import GoTime

# Each function's argument count: (count, variadic), a variadic function takes at least count.
ARITY: dict[str, tuple[int, bool]] = {
    "and": (1, True),
    "or": (1, True),
    "not": (1, False),
    "len": (1, False),
    "index": (1, True),
    "slice": (1, True),
    "print": (0, True),
    "printf": (1, True),
    "println": (0, True),
    "html": (0, True),
    "js": (0, True),
    "urlquery": (0, True),
    "eq": (1, True),
    "ne": (2, False),
    "lt": (2, False),
    "le": (2, False),
    "gt": (2, False),
    "ge": (2, False),
}

_HTML = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}


def _length(args: Sequence[object]) -> int:
    item = args[0]
    if item is None:
        raise FuncError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode())  # Go counts bytes
    if isinstance(item, list | tuple | dict):
        return len(item)
    raise FuncError(f"len of type {type_name(item)}")


def _index_arg(index: object, cap: int) -> int:
    if index is None:
        raise FuncError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise FuncError(f"cannot index slice/array with type {type_name(index)}")
    if not 0 <= index <= cap:
        raise FuncError(f"index out of range: {index}")
    return index


def _index(args: Sequence[object]) -> object:
    """``index x 1 2`` is x[1][2]; a missing map key gives "", the zero value of Kubernetes' maps."""
    item = args[0]
    if item is None:
        raise FuncError("index of untyped nil")
    for index in args[1:]:
        if item is None:
            raise FuncError("index of nil pointer")
        if isinstance(item, str | list | tuple):
            sequence = item.encode() if isinstance(item, str) else item  # a string indexes bytes
            position = _index_arg(index, len(sequence))
            if position == len(sequence):  # Go's own check lets this through to reflect's
                kind = "string" if isinstance(item, str) else "slice"
                raise FuncError(f"reflect: {kind} index out of range")
            item = sequence[position]
        elif isinstance(item, dict):
            if not isinstance(index, str):  # Kubernetes' maps are keyed by strings
                raise FuncError(f"value has type {type_name(index)}; should be string")
            item = item.get(index, "")
        else:
            raise FuncError(f"can't index item of type {type_name(item)}")
    return item


def _slice(args: Sequence[object]) -> object:
    item, indexes = args[0], args[1:]
    if item is None:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        data = item.encode()  # a string slices bytes
        cap = len(data)
    elif isinstance(item, list | tuple):
        cap = len(item)
    else:
        raise FuncError(f"can't slice item of type {type_name(item)}")
    bounds = [0, cap, cap]
    for i, index in enumerate(indexes):
        bounds[i] = _index_arg(index, cap)
    low, high, high_cap = bounds
    if low > high:
        raise FuncError(f"invalid slice index: {low} > {high}")
    if high > high_cap:
        raise FuncError(f"invalid slice index: {high} > {high_cap}")
    if isinstance(item, str):
        return data[low:high].decode("utf-8", "replace")
    return list(item[low:high])


def _basic_kind(value: object) -> str | None:
    """Go's basicKind: the kinds eq, lt and friends compare; None for any other."""
    if isinstance(value, bool):
        return "bool"
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind.__name__
    return None


def _eq(args: Sequence[object]) -> bool:
    """``eq a b c`` is a == b || a == c; values of different kinds are an error, except nil."""
    first, others = args[0], args[1:]
    if not others:
        raise FuncError("missing argument for comparison")
    kind = _basic_kind(first)
    for other in others:
        if kind != _basic_kind(other):
            if first is not None and other is not None:
                raise FuncError(
                    f"incompatible types for comparison: {type_name(first)} and {type_name(other)}"
                )
            equal = False
        elif kind is not None or first is None or other is None or _both_times(first, other):
            equal = first == other
        elif type(first) is type(other):
            raise FuncError(sprintf("non-comparable type %s: %v", [other, type_name(other)]))
        else:
            message = "non-comparable types %s: %v, %s: %v"
            raise FuncError(sprintf(message, [first, type_name(first), type_name(other), other]))
        if equal:
            return True
    return False


def _both_times(first: object, other: object) -> bool:
    return isinstance(first, GoTime) and isinstance(other, GoTime)


def _lt(args: Sequence[object]) -> bool:
    first, second = args
    kind, other_kind = _basic_kind(first), _basic_kind(second)
    if kind is None or other_kind is None:
        raise FuncError("invalid type for comparison")
    if kind != other_kind:
        raise FuncError(f"incompatible types for comparison: {type_name(first)} and {type_name(second)}")
    if kind == "bool":
        raise FuncError("invalid type for comparison")
    return bool(first < second)  # type: ignore[operator]


def _le(args: Sequence[object]) -> bool:
    return _lt(args) or _eq(args)


def _text_of(args: Sequence[object]) -> str:
    """What html, js and urlquery escape: the one string argument, or ``fmt.Sprint`` of them all."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(args)


def _js(args: Sequence[object]) -> str:
    out: list[str] = []
    for char in _text_of(args):
        if char in _JS:
            out.append(_JS[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04X}")
        elif char.isascii() or char.isprintable():
            out.append(char)
        else:
            out.append(f"\\u{ord(char):04X}")
    return "".join(out)


def _printf(args: Sequence[object]) -> str:
    form = args[0]
    assert isinstance(form, str)  # the executor checks it as Go does, with Go's message
    return sprintf(form, args[1:])


CALLS: dict[str, Callable[[Sequence[object]], object]] = {
    "not": lambda args: not args[0],
    "len": _length,
    "index": _index,
    "slice": _slice,
    "print": sprint,
    "printf": _printf,
    "println": sprintln,
    "html": lambda args: "".join(_HTML.get(char, char) for char in _text_of(args)),
    "js": _js,
    "urlquery": lambda args: urllib.parse.quote_plus(_text_of(args), safe=""),
    "eq": _eq,
    "ne": lambda args: not _eq(args),
    "lt": _lt,
    "le": _le,
    "gt": lambda args: not _le(args),
    "ge": lambda args: not _lt(args),
}
