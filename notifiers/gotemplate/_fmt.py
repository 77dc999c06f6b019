"""Go's ``fmt`` for the values a template sees: ``%v`` printing, ``Sprint``, ``Sprintln`` and ``Sprintf``.

Values are plain Python standing for Go values (``int`` for int, ``float`` for float64, ``dict``
for a struct or map, ``list`` for a slice, ``None`` for nil, :class:`GoTime` for time.Time), and
are printed the way Go prints their counterparts, including Go's quirks: floats switch to
exponent form from 1e+06 on, nil is ``<nil>``, a wrong verb prints ``%!d(string=abc)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ._time import GoTime, Int64

# Go refuses widths and precisions above this (fmt's tooLarge), which also bounds our padding.
_MAX_WIDTH = 1_000_000
_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def type_name(value: object) -> str:
    """The Go type a Python value stands for, as Go's error messages name it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "int64"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, GoTime):
        return "time.Time"
    return type(value).__name__


def sorted_keys(mapping: dict[object, object]) -> list[object]:
    """Keys in Go's order for printing and ranging over a map (sorted)."""
    try:
        return sorted(mapping)  # type: ignore[type-var]
    except TypeError:
        return sorted(mapping, key=repr)


def format_value(value: object) -> str:
    """``fmt.Sprint(value)``: how an action prints a value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _strconv_float(value, "g", -1)
    if isinstance(value, str):
        return value
    if isinstance(value, GoTime):
        return value.string()
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{format_value(key)}:{format_value(value[key])}" for key in sorted_keys(value))
        return "map[" + " ".join(pairs) + "]"
    return str(value)


def sprint(args: Sequence[object]) -> str:
    """``fmt.Sprint``: spaces only between operands when neither is a string."""
    out: list[str] = []
    previous_is_string = False
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not previous_is_string:
            out.append(" ")
        out.append(format_value(arg))
        previous_is_string = is_string
    return "".join(out)


def sprintln(args: Sequence[object]) -> str:
    return " ".join(format_value(arg) for arg in args) + "\n"


def go_quote(text: str, *, quote: str = '"', ascii_only: bool = False) -> str:
    """``strconv.Quote`` (or ``QuoteRune`` with ``quote="'"``): Go escapes, printable runes kept."""
    out = [quote]
    for char in text:
        if char in (quote, "\\"):
            out.append("\\" + char)
        elif char.isprintable() and (char.isascii() or not ascii_only):
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char < " " or char == "\x7f":
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append(quote)
    return "".join(out)


@dataclass(slots=True)
class _Spec:
    """The flags, width and precision of one ``%`` directive."""

    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    prec: int | None = None


def sprintf(form: str, args: Sequence[object]) -> str:  # noqa: PLR0912, PLR0915 - Go's doPrintf
    """``fmt.Sprintf`` for the common verbs (v s d q x X o O b c U e E f F g G t T and %%)."""
    out: list[str] = []
    argnum = 0
    i = 0
    n = len(form)
    while i < n:
        percent = form.find("%", i)
        if percent < 0:
            out.append(form[i:])
            break
        out.append(form[i:percent])
        i = percent + 1
        spec = _Spec()
        i = _parse_flags(form, i, spec)
        if i < n and form[i] == "*":
            i += 1
            width, argnum = _int_arg(args, argnum)
            if width is None:
                out.append("%!(BADWIDTH)")
            elif width < 0:
                spec.minus, spec.zero, spec.width = True, False, -width
            else:
                spec.width = width
        else:
            spec.width, i = _parse_number(form, i)
        if i < n and form[i] == ".":
            i += 1
            if i < n and form[i] == "*":
                i += 1
                spec.prec, argnum = _int_arg(args, argnum)
                if spec.prec is None or spec.prec < 0:
                    out.append("%!(BADPREC)")
                    spec.prec = None
            else:
                prec, i = _parse_number(form, i)
                spec.prec = prec or 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = form[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argnum >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        if verb == "v":  # %+v and %#v are Go-syntax forms we print as plain %v
            spec.plus = spec.sharp = False
        out.append(_format_arg(args[argnum], verb, spec))
        argnum += 1
    if argnum < len(args):
        extra = ("<nil>" if arg is None else f"{type_name(arg)}={format_value(arg)}" for arg in args[argnum:])
        out.append("%!(EXTRA " + ", ".join(extra) + ")")
    return "".join(out)


def _parse_flags(form: str, i: int, spec: _Spec) -> int:
    """Sets ``spec``'s flags from the ``#0+- `` at ``i`` on; the index after them. Later flags
    override earlier ones as in Go: ``-`` after ``0`` turns zero padding off."""
    while i < len(form) and form[i] in "#0+- ":
        flag = form[i]
        if flag == "#":
            spec.sharp = True
        elif flag == "0":
            spec.zero = not spec.minus  # Go pads with zeros only on the left
        elif flag == "+":
            spec.plus = True
        elif flag == "-":
            spec.minus, spec.zero = True, False
        else:
            spec.space = True
        i += 1
    return i


def _parse_number(form: str, i: int) -> tuple[int | None, int]:
    start = i
    while i < len(form) and "0" <= form[i] <= "9":
        i += 1
    if i == start:
        return None, i
    number = int(form[start:i])
    return (number if number <= _MAX_WIDTH else None), i


def _int_arg(args: Sequence[object], argnum: int) -> tuple[int | None, int]:
    if argnum >= len(args):
        return None, argnum
    arg = args[argnum]
    if isinstance(arg, bool) or not isinstance(arg, int) or abs(arg) > _MAX_WIDTH:
        return None, argnum + 1
    return arg, argnum + 1


def _format_arg(arg: object, verb: str, spec: _Spec) -> str:
    if verb == "T":
        return _format_string(type_name(arg), "s", spec)
    if arg is None:
        return _pad("<nil>", spec) if verb == "v" else _bad_verb(arg, verb, spec)
    if isinstance(arg, bool):
        return _pad("true" if arg else "false", spec) if verb in "tv" else _bad_verb(arg, verb, spec)
    if isinstance(arg, int):
        return _format_int(arg, verb, spec) if verb in "vdbcoOqxXU" else _bad_verb(arg, verb, spec)
    if isinstance(arg, float):
        return _format_float(arg, verb, spec) if verb in "vgGeEfF" else _bad_verb(arg, verb, spec)
    if isinstance(arg, str):
        return _format_string(arg, verb, spec) if verb in "vsqxX" else _bad_verb(arg, verb, spec)
    if isinstance(arg, GoTime):  # a fmt.Stringer
        return _format_string(arg.string(), verb, spec) if verb in "vsqxX" else _bad_verb(arg, verb, spec)
    if isinstance(arg, list | tuple):
        return "[" + " ".join(_elements(arg, verb, spec)) + "]"
    if isinstance(arg, dict):
        keys = sorted_keys(arg)
        pairs = zip(_elements(keys, verb, spec), _elements((arg[k] for k in keys), verb, spec), strict=True)
        return "map[" + " ".join(f"{key}:{value}" for key, value in pairs) + "]"
    return _pad(str(arg), spec) if verb in "vs" else _bad_verb(arg, verb, spec)


def _elements(items: Iterable[object], verb: str, spec: _Spec) -> list[str]:
    """Elements of a slice or map, each with the verb; a nil element is ``<nil>`` whatever the verb."""
    return [_pad("<nil>", spec) if item is None else _format_arg(item, verb, spec) for item in items]


def _bad_verb(arg: object, verb: str, spec: _Spec) -> str:
    inner = "<nil>" if arg is None else f"{type_name(arg)}={_format_arg(arg, 'v', spec)}"
    return f"%!{verb}({inner})"


def _pad(text: str, spec: _Spec, *, zeros: bool = True) -> str:
    """Pad to the width in runes, on the right with ``-``, with zeros with ``0`` (strings too, as Go does)."""
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    return ("0" if spec.zero and zeros else " ") * fill + text


def _format_string(text: str, verb: str, spec: _Spec) -> str:
    if verb in "xX":
        return _format_hex_bytes(text.encode(), verb, spec)
    if spec.prec is not None:
        text = text[: spec.prec]
    if verb == "q":
        if spec.sharp and _can_backquote(text):
            return _pad(f"`{text}`", spec)
        return _pad(go_quote(text, ascii_only=spec.plus), spec)
    return _pad(text, spec)


def _can_backquote(text: str) -> bool:
    return not any(char in "`\ufeff" or (char < " " and char != "\t") for char in text)


def _format_hex_bytes(data: bytes, verb: str, spec: _Spec) -> str:
    if spec.prec is not None:
        data = data[: spec.prec]
    if not data:
        return _pad("", spec)
    prefix = ("0" + verb) if spec.sharp else ""
    digits = [f"{byte:02x}" if verb == "x" else f"{byte:02X}" for byte in data]
    text = (" " + prefix).join(digits) if spec.space else "".join(digits)
    return _pad(prefix + text, spec)


def _format_int(value: int, verb: str, spec: _Spec) -> str:  # noqa: PLR0912 - Go's fmtInteger and friends
    if verb == "c":
        return _pad(_rune(value), spec)
    if verb == "q":
        return _pad(go_quote(_rune(value), quote="'", ascii_only=spec.plus), spec)
    if verb == "U":
        digits = f"{value & 0xFFFFFFFFFFFFFFFF:X}".rjust(max(4, spec.prec or 0), "0")  # as a uint64
        text = f"U+{digits}"
        if spec.sharp and _is_rune(value) and chr(value).isprintable():
            text += f" '{chr(value)}'"
        return _pad(text, spec, zeros=False)
    base = {"b": 2, "o": 8, "O": 8, "x": 16, "X": 16}.get(verb, 10)
    negative = value < 0
    magnitude = abs(value)
    if spec.prec is not None:
        if spec.prec == 0 and magnitude == 0:  # Go prints nothing but the padding
            return " " * (spec.width or 0)
        zeros = spec.prec
    elif spec.zero and spec.width is not None:
        zeros = spec.width - (1 if negative or spec.plus or spec.space else 0)
    else:
        zeros = 0
    digits = {2: f"{magnitude:b}", 8: f"{magnitude:o}", 16: f"{magnitude:x}", 10: str(magnitude)}[base]
    if verb == "X":
        digits = digits.upper()
    digits = digits.rjust(zeros, "0")
    if spec.sharp:
        if base == 2:
            digits = "0b" + digits
        elif base == 8 and not digits.startswith("0"):
            digits = "0" + digits
        elif base == 16:
            digits = "0" + verb + digits
    if verb == "O":
        digits = "0o" + digits
    sign = "-" if negative else "+" if spec.plus else " " if spec.space else ""
    return _pad(sign + digits, spec, zeros=False)  # zeros were added as precision


def _is_rune(value: int) -> bool:
    return 0 <= value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF


def _rune(value: int) -> str:
    """The character for a code point; Go's RuneError for one that is not a valid rune."""
    return chr(value) if _is_rune(value) else "\ufffd"


def _format_float(value: float, verb: str, spec: _Spec) -> str:
    if verb == "v":
        verb = "g"
    default_prec = -1 if verb in "gG" else 6
    number = _strconv_float(value, verb, default_prec if spec.prec is None else spec.prec)
    sign, body = (number[0], number[1:]) if number[0] in "+-" else ("+", number)
    if spec.space and sign == "+" and not spec.plus:
        sign = " "
    if body in ("Inf", "NaN"):  # never zero-padded; NaN shows a sign only when asked to
        if body == "NaN" and not spec.space and not spec.plus:
            return _pad(body, spec, zeros=False)
        return _pad(sign + body, spec, zeros=False)
    if spec.plus or sign != "+":
        if spec.zero and spec.width is not None and spec.width > len(body) + 1:
            return sign + "0" * (spec.width - len(body) - 1) + body
        return _pad(sign + body, spec)
    return _pad(body, spec)


def _strconv_float(value: float, verb: str, prec: int) -> str:
    """``strconv.FormatFloat`` for e, f and g; precision -1 is the shortest representation."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = _shortest_g(value) if prec < 0 else format(value, f".{prec}{verb.lower()}")
    return text.upper() if verb in "EG" else text


def _shortest_g(value: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form below 1e-4 and from 1e+06 on."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    exact = Decimal(repr(abs(value))).as_tuple()
    all_digits = "".join(map(str, exact.digits))
    digits = all_digits.rstrip("0")
    exponent = int(exact.exponent) + len(all_digits) - len(digits)
    point = len(digits) + exponent  # digits are 0.DIGITS * 10**point
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        power = point - 1
        return f"{sign}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    whole = digits[:point].ljust(point, "0")
    fraction = digits[point:]
    return sign + whole + ("." + fraction if fraction else "")
