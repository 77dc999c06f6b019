"""Splits a Go template into tokens as ``text/template/parse/lex.go`` does, messages included."""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable
from dataclasses import dataclass

from ._fmt import go_quote

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
_SPACE = " \t\r\n"
_TERMINATORS = ".,|:)("


class Kind(enum.Enum):
    ERROR = enum.auto()
    EOF = enum.auto()
    TEXT = enum.auto()
    LEFT_DELIM = enum.auto()
    RIGHT_DELIM = enum.auto()
    SPACE = enum.auto()
    ASSIGN = enum.auto()  # =
    DECLARE = enum.auto()  # :=
    PIPE = enum.auto()
    LEFT_PAREN = enum.auto()
    RIGHT_PAREN = enum.auto()
    CHAR = enum.auto()  # any other printable ASCII character, such as ','
    BOOL = enum.auto()
    CHAR_CONSTANT = enum.auto()
    COMPLEX = enum.auto()
    NUMBER = enum.auto()
    STRING = enum.auto()
    RAW_STRING = enum.auto()
    FIELD = enum.auto()
    VARIABLE = enum.auto()
    IDENTIFIER = enum.auto()
    # keywords
    BLOCK = enum.auto()
    BREAK = enum.auto()
    CONTINUE = enum.auto()
    DEFINE = enum.auto()
    DOT = enum.auto()
    ELSE = enum.auto()
    END = enum.auto()
    IF = enum.auto()
    NIL = enum.auto()
    RANGE = enum.auto()
    TEMPLATE = enum.auto()
    WITH = enum.auto()


_KEYWORDS = {
    "block": Kind.BLOCK,
    "break": Kind.BREAK,
    "continue": Kind.CONTINUE,
    "define": Kind.DEFINE,
    "else": Kind.ELSE,
    "end": Kind.END,
    "if": Kind.IF,
    "nil": Kind.NIL,
    "range": Kind.RANGE,
    "template": Kind.TEMPLATE,
    "with": Kind.WITH,
}
_KEYWORD_KINDS = frozenset(_KEYWORDS.values()) | {Kind.DOT}


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    pos: int  # offset in the source
    val: str
    line: int

    def __str__(self) -> str:
        """As Go's parse errors show a token: ``EOF``, ``<end>``, ``"}"``, ``"very long "...``."""
        if self.kind is Kind.EOF:
            return "EOF"
        if self.kind is Kind.ERROR:
            return self.val
        if self.kind in _KEYWORD_KINDS:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def lex(source: str) -> list[Token]:
    """All tokens of ``source``, ending with EOF or with the first ERROR."""
    return _Lexer(source).run()


def describe_rune(char: str) -> str:
    """Go's ``%#U``: ``U+0023 '#'``."""
    return f"U+{ord(char):04X}" + (f" '{char}'" if char.isprintable() else "")


def _is_alphanumeric(char: str) -> bool:
    return char == "_" or char.isalpha() or char.isdecimal()


_State = Callable[[], "_State | None"]


class _Lexer:
    """Go's state machine: each state consumes some input and returns the next state."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.tokens: list[Token] = []
        self._newlines = [i for i, char in enumerate(source) if char == "\n"]

    def run(self) -> list[Token]:
        state: _State | None = self._lex_text
        while state is not None:
            state = state()
        return self.tokens

    def _line(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1

    def _emit(self, kind: Kind) -> None:
        self.tokens.append(Token(kind, self.start, self.src[self.start : self.pos], self._line(self.start)))
        self.start = self.pos

    def _error(self, message: str) -> None:
        self.tokens.append(Token(Kind.ERROR, self.start, message, self._line(self.start)))

    def _peek(self) -> str:
        return self.src[self.pos : self.pos + 1]

    def _accept(self, valid: str) -> bool:
        if self._peek() and self._peek() in valid:
            self.pos += 1
            return True
        return False

    def _accept_run(self, valid: str) -> None:
        while self._accept(valid):
            pass

    def _left_trim_at(self, pos: int) -> bool:
        return self.src[pos : pos + 1] == "-" and self.src[pos + 1 : pos + 2] in tuple(_SPACE)

    def _at_right_delim(self) -> tuple[bool, bool]:
        """Whether a right delimiter starts here, and whether it has a trim marker (`` -}}``)."""
        src, pos = self.src, self.pos
        if src[pos : pos + 1] in tuple(_SPACE) and src.startswith("-" + RIGHT_DELIM, pos + 1):
            return True, True
        return src.startswith(RIGHT_DELIM, pos), False

    def _skip_space(self) -> None:
        while self._peek() and self._peek() in _SPACE:
            self.pos += 1
        self.start = self.pos

    def _at_terminator(self) -> bool:
        char = self._peek()
        return (
            not char or char in _SPACE or char in _TERMINATORS or self.src.startswith(RIGHT_DELIM, self.pos)
        )

    def _lex_text(self) -> _State | None:
        delim = self.src.find(LEFT_DELIM, self.pos)
        if delim < 0:
            self.pos = len(self.src)
            if self.pos > self.start:
                self._emit(Kind.TEXT)
            self._emit(Kind.EOF)
            return None
        end = delim
        if self._left_trim_at(delim + len(LEFT_DELIM)):
            end = self.start + len(self.src[self.start : delim].rstrip(_SPACE))
        if end > self.start:
            self.pos = end
            self._emit(Kind.TEXT)
        self.start = delim
        self.pos = delim + len(LEFT_DELIM)
        after_marker = self.pos + (2 if self._left_trim_at(self.pos) else 0)
        if self.src.startswith("/*", after_marker):
            self.pos = self.start = after_marker
            return self._lex_comment
        self._emit(Kind.LEFT_DELIM)
        self.pos = self.start = after_marker
        self.paren_depth = 0
        return self._lex_inside_action

    def _lex_comment(self) -> _State | None:
        end = self.src.find("*/", self.pos + 2)
        if end < 0:
            self._error("unclosed comment")
            return None
        self.pos = end + 2
        delim, trim = self._at_right_delim()
        if not delim:
            self._error("comment ends before closing delimiter")
            return None
        self.pos += len(RIGHT_DELIM) + (2 if trim else 0)
        self.start = self.pos
        if trim:
            self._skip_space()
        return self._lex_text

    def _lex_right_delim(self) -> _State | None:
        _, trim = self._at_right_delim()
        if trim:
            self.pos += 2
            self.start = self.pos
        self.pos += len(RIGHT_DELIM)
        self._emit(Kind.RIGHT_DELIM)
        if trim:
            self._skip_space()
        return self._lex_text

    def _lex_inside_action(self) -> _State | None:  # noqa: PLR0912 - Go's lexInsideAction
        delim, _ = self._at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self._lex_right_delim
            self._error("unclosed left paren")
            return None
        char = self._peek()
        if not char:
            self._error("unclosed action")
            return None
        if char in _SPACE:
            return self._lex_space
        self.pos += 1
        if char == "=":
            self._emit(Kind.ASSIGN)
        elif char == ":":
            if not self._accept("="):
                self._error("expected :=")
                return None
            self._emit(Kind.DECLARE)
        elif char == "|":
            self._emit(Kind.PIPE)
        elif char == '"':
            return self._lex_quote
        elif char == "`":
            return self._lex_raw_quote
        elif char == "$":
            return self._lex_variable
        elif char == "'":
            return self._lex_char
        elif char == "." and not "0" <= self._peek() <= "9":
            return self._lex_field
        elif char in "+-." or "0" <= char <= "9":
            self.pos -= 1
            return self._lex_number
        elif _is_alphanumeric(char):
            self.pos -= 1
            return self._lex_identifier
        elif char == "(":
            self.paren_depth += 1
            self._emit(Kind.LEFT_PAREN)
        elif char == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self._error("unexpected right paren")
                return None
            self._emit(Kind.RIGHT_PAREN)
        elif char.isascii() and char.isprintable():
            self._emit(Kind.CHAR)
        else:
            self._error(f"unrecognized character in action: {describe_rune(char)}")
            return None
        return self._lex_inside_action

    def _lex_space(self) -> _State | None:
        spaces = 0
        while self._peek() and self._peek() in _SPACE:
            self.pos += 1
            spaces += 1
        # The last space may belong to a trim-marked right delimiter (" -}}").
        if self.src.startswith("-" + RIGHT_DELIM, self.pos):
            self.pos -= 1
            if spaces == 1:
                return self._lex_right_delim
        self._emit(Kind.SPACE)
        return self._lex_inside_action

    def _lex_identifier(self) -> _State | None:
        while self._peek() and _is_alphanumeric(self._peek()):
            self.pos += 1
        if not self._at_terminator():
            self._error(f"bad character {describe_rune(self._peek())}")
            return None
        word = self.src[self.start : self.pos]
        if word in _KEYWORDS:
            self._emit(_KEYWORDS[word])
        elif word in ("true", "false"):
            self._emit(Kind.BOOL)
        else:
            self._emit(Kind.IDENTIFIER)
        return self._lex_inside_action

    def _lex_field(self) -> _State | None:
        return self._lex_field_or_variable(Kind.FIELD)

    def _lex_variable(self) -> _State | None:
        return self._lex_field_or_variable(Kind.VARIABLE)

    def _lex_field_or_variable(self, kind: Kind) -> _State | None:
        if self._at_terminator():  # a lone "." or "$"
            self._emit(Kind.DOT if kind is Kind.FIELD else Kind.VARIABLE)
            return self._lex_inside_action
        while self._peek() and _is_alphanumeric(self._peek()):
            self.pos += 1
        if not self._at_terminator():
            self._error(f"bad character {describe_rune(self._peek())}")
            return None
        self._emit(kind)
        return self._lex_inside_action

    def _lex_char(self) -> _State | None:
        return self._lex_quoted("'", Kind.CHAR_CONSTANT, "unterminated character constant")

    def _lex_quote(self) -> _State | None:
        return self._lex_quoted('"', Kind.STRING, "unterminated quoted string")

    def _lex_quoted(self, quote: str, kind: Kind, unterminated: str) -> _State | None:
        while True:
            char = self._peek()
            self.pos += 1
            if char == "\\":  # the escaped character is checked by the parser
                char = self._peek()
                self.pos += 1
                if char not in ("", "\n"):
                    continue
            if char in ("", "\n"):
                self._error(unterminated)
                return None
            if char == quote:
                break
        self._emit(kind)
        return self._lex_inside_action

    def _lex_raw_quote(self) -> _State | None:
        end = self.src.find("`", self.pos)
        if end < 0:
            self._error("unterminated raw quoted string")
            return None
        self.pos = end + 1
        self._emit(Kind.RAW_STRING)
        return self._lex_inside_action

    def _lex_number(self) -> _State | None:
        if not self._scan_number():
            self._error(f"bad number syntax: {go_quote(self.src[self.start : self.pos])}")
            return None
        if self._peek() in ("+", "-"):  # complex: 1+2i
            if not self._scan_number() or self.src[self.pos - 1] != "i":
                self._error(f"bad number syntax: {go_quote(self.src[self.start : self.pos])}")
                return None
            self._emit(Kind.COMPLEX)
        else:
            self._emit(Kind.NUMBER)
        return self._lex_inside_action

    def _scan_number(self) -> bool:
        self._accept("+-")
        digits = "0123456789_"
        if self._accept("0"):
            if self._accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self._accept("oO"):
                digits = "01234567_"
            elif self._accept("bB"):
                digits = "01_"
        self._accept_run(digits)
        if self._accept("."):
            self._accept_run(digits)
        if digits == "0123456789_" and self._accept("eE"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if digits.startswith("0123456789abcdef") and self._accept("pP"):
            self._accept("+-")
            self._accept_run("0123456789_")
        self._accept("i")
        if self._peek() and _is_alphanumeric(self._peek()):
            self.pos += 1
            return False
        return True
