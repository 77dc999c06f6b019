"""Go's ``time.Time`` as kube-eventer's templates saw it: ``String()``, ``Format`` and a few methods.

kube-eventer executed templates against a core/v1 Event, whose timestamps are ``metav1.Time``
(embedding ``time.Time``), so ``{{ .LastTimestamp }}`` printed Go's default layout and
``{{ .LastTimestamp.Format "2006-01-02 15:04:05" }}`` used Go's reference-time layouts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# What a template can call or read on a time (``Time`` is metav1.Time's embedded time.Time).
TIME_MEMBERS = frozenset({"Format", "Unix", "UTC", "Local", "String", "Time"})

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TZ_LAYOUTS = ("070000", "07:00:00", "0700", "07:00", "07")
# datetime.timezone's name for an offset it was given no name for: Go prints such a zone as -0700.
_UNNAMED_ZONE = re.compile(r"UTC[+-]\d\d:\d\d(:\d\d(\.\d+)?)?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STRING_LAYOUT = "2006-01-02 15:04:05.999999999 -0700 MST"


class Int64(int):
    """What ``Unix`` returns: Go's int64, named so in error messages."""


class GoTime:
    """An instant with its zone, printed and formatted as Go's ``time.Time``."""

    __slots__ = ("_value",)

    def __init__(self, value: datetime) -> None:
        if value.utcoffset() is None:
            raise ValueError("GoTime needs an aware datetime (one with a tzinfo)")
        self._value = value

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GoTime)
            and self._value == other._value
            and self._value.utcoffset() == other._value.utcoffset()
        )

    def __hash__(self) -> int:
        return hash((self._value, self._value.utcoffset()))

    def __repr__(self) -> str:
        return f"GoTime({self._value!r})"

    def __str__(self) -> str:
        return self.string()

    def string(self) -> str:
        """Go's ``Time.String()``: ``2006-01-02 15:04:05.999999999 -0700 MST``."""
        return self.format(_STRING_LAYOUT)

    def unix(self) -> Int64:
        return Int64((self._value - _EPOCH) // timedelta(seconds=1))

    def utc(self) -> GoTime:
        return GoTime(self._value.astimezone(UTC))

    def format(self, layout: str) -> str:
        """Go's ``Time.Format``: the parts of ``Mon Jan 2 15:04:05 MST 2006`` stand for this time."""
        out: list[str] = []
        i = 0
        while i < len(layout):
            chunk = _layout_chunk(layout, i)
            if chunk is None:
                out.append(layout[i])
                i += 1
            else:
                out.append(self._render(chunk))
                i += len(chunk)
        return "".join(out)

    def _zone_name(self) -> str:
        name = self._value.tzname() or ""
        return "" if _UNNAMED_ZONE.fullmatch(name) else name

    def _render(self, chunk: str) -> str:  # noqa: PLR0912 - one branch per layout element
        t = self._value
        hour12 = t.hour % 12 or 12
        match chunk:
            case "January":
                return _MONTHS[t.month - 1]
            case "Jan":
                return _MONTHS[t.month - 1][:3]
            case "Monday":
                return _WEEKDAYS[t.weekday()]
            case "Mon":
                return _WEEKDAYS[t.weekday()][:3]
            case "MST":
                return self._zone_name() or self._offset("-0700")
            case "2006":
                return f"{t.year:04d}"
            case "06":
                return f"{t.year % 100:02d}"
            case "01":
                return f"{t.month:02d}"
            case "1":
                return str(t.month)
            case "02":
                return f"{t.day:02d}"
            case "2":
                return str(t.day)
            case "_2":
                return f"{t.day:2d}"
            case "002":
                return f"{t.timetuple().tm_yday:03d}"
            case "__2":
                return f"{t.timetuple().tm_yday:3d}"
            case "15":
                return f"{t.hour:02d}"
            case "03":
                return f"{hour12:02d}"
            case "3":
                return str(hour12)
            case "04":
                return f"{t.minute:02d}"
            case "4":
                return str(t.minute)
            case "05":
                return f"{t.second:02d}"
            case "5":
                return str(t.second)
            case "PM":
                return "PM" if t.hour >= 12 else "AM"
            case "pm":
                return "pm" if t.hour >= 12 else "am"
        if chunk[0] in "-Z":
            return self._offset(chunk)
        return _fraction(t.microsecond * 1000, chunk)

    def _offset(self, chunk: str) -> str:
        offset = self._value.utcoffset()
        seconds = int(offset.total_seconds()) if offset is not None else 0
        if chunk[0] == "Z" and seconds == 0:
            return "Z"
        sign = "-" if seconds < 0 else "+"
        seconds = abs(seconds)
        colon = ":" if ":" in chunk else ""
        text = f"{sign}{seconds // 3600:02d}"
        if chunk[1:] != "07":
            text += f"{colon}{seconds // 60 % 60:02d}"
        if len(chunk) - 1 in (6, 8):
            text += f"{colon}{seconds % 60:02d}"
        return text


def _fraction(nanos: int, chunk: str) -> str:
    """``.000`` keeps its digits; ``.999`` trims trailing zeros and drops the dot when nothing is left."""
    digits = f"{nanos:09d}"[: len(chunk) - 1]
    if chunk[1] == "9":
        digits = digits.rstrip("0")
        if not digits:
            return ""
    return chunk[0] + digits


def _layout_chunk(layout: str, i: int) -> str | None:  # noqa: PLR0912 - Go's nextStdChunk
    """The layout element starting at ``i`` (as Go's ``nextStdChunk`` finds it), or None for a literal."""
    rest = layout[i:]
    c = rest[0]
    if c == "J" and rest.startswith("Jan"):
        if rest.startswith("January"):
            return "January"
        if not "a" <= rest[3:4] <= "z":
            return "Jan"
    elif c == "M":
        if rest.startswith("Mon"):
            if rest.startswith("Monday"):
                return "Monday"
            if not "a" <= rest[3:4] <= "z":
                return "Mon"
        if rest.startswith("MST"):
            return "MST"
    elif c == "0":
        if rest[1:2] in ("1", "2", "3", "4", "5", "6"):
            return rest[:2]
        if rest.startswith("002"):
            return "002"
    elif c == "1":
        return "15" if rest.startswith("15") else "1"
    elif c == "2":
        return "2006" if rest.startswith("2006") else "2"
    elif c == "_":
        if rest.startswith("_2") and not rest.startswith("_2006"):
            return "_2"
        if rest.startswith("__2"):
            return "__2"
    elif c in "345":
        return c
    elif rest.startswith(("PM", "pm")):
        return rest[:2]
    elif c in "-Z":
        for tz in _TZ_LAYOUTS:
            if rest.startswith(tz, 1):
                return c + tz
    elif c in ".," and rest[1:2] in ("0", "9"):
        end = 1
        while end < len(rest) and rest[end] == rest[1]:
            end += 1
        if not "0" <= rest[end : end + 1] <= "9":
            return rest[:end]
    return None
