"""Parses tokens into a small node tree, as ``text/template/parse/parse.go`` does, messages included.

Each node prints back as template source (Go's ``Node.String``), which execution errors quote
(``executing "body" at <.InvolvedObject.Nme>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ._errors import GoTemplateError
from ._fmt import go_quote
from ._lex import Kind, Token, lex
from ._time import TIME_MEMBERS

# Nesting of blocks and parentheses; Go allows 10000 parentheses, Python's stack does not.
MAX_NESTING = 100

_OPERAND_START = frozenset(
    {
        Kind.BOOL,
        Kind.CHAR_CONSTANT,
        Kind.COMPLEX,
        Kind.DOT,
        Kind.FIELD,
        Kind.IDENTIFIER,
        Kind.NUMBER,
        Kind.NIL,
        Kind.RAW_STRING,
        Kind.STRING,
        Kind.VARIABLE,
        Kind.LEFT_PAREN,
    }
)
_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


@dataclass(slots=True)
class Node:
    pos: int  # offset in the source, for error locations


@dataclass(slots=True)
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(map(str, self.nodes))


@dataclass(slots=True)
class Text(Node):
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class Field(Node):
    ident: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + name for name in self.ident)


@dataclass(slots=True)
class Variable(Node):
    ident: tuple[str, ...]  # "$x" then fields

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(slots=True)
class Identifier(Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(slots=True)
class Dot(Node):
    def __str__(self) -> str:
        return "."


@dataclass(slots=True)
class Nil(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(slots=True)
class Bool(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(slots=True)
class Number(Node):
    text: str
    value: int | float

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class String(Node):
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(slots=True)
class Command(Node):
    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({arg})" if isinstance(arg, Pipe) else str(arg) for arg in self.args)


@dataclass(slots=True)
class Pipe(Node):
    is_assign: bool = False
    decl: list[Variable] = field(default_factory=list)
    cmds: list[Command] = field(default_factory=list)

    def __str__(self) -> str:
        operator = " = " if self.is_assign else " := "
        declared = ", ".join(map(str, self.decl)) + operator if self.decl else ""
        return declared + " | ".join(map(str, self.cmds))


@dataclass(slots=True)
class Chain(Node):
    """Fields of something that is not dot or a variable: ``(pipeline).Field``."""

    node: Node
    fields: tuple[str, ...]

    def __str__(self) -> str:
        base = f"({self.node})" if isinstance(self.node, Pipe) else str(self.node)
        return base + "".join("." + name for name in self.fields)


@dataclass(slots=True)
class Action(Node):
    pipe: Pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(slots=True)
class Branch(Node):
    """``if``, ``with`` or ``range``, with the optional ``else`` list."""

    kind: Literal["if", "with", "range"]
    pipe: Pipe
    body: ListNode
    else_body: ListNode | None

    def __str__(self) -> str:
        tail = f"{{{{else}}}}{self.else_body}" if self.else_body is not None else ""
        return f"{{{{{self.kind} {self.pipe}}}}}{self.body}{tail}{{{{end}}}}"


@dataclass(slots=True)
class TemplateCall(Node):
    name: str
    pipe: Pipe | None

    def __str__(self) -> str:
        argument = f" {self.pipe}" if self.pipe is not None else ""
        return f"{{{{template {go_quote(self.name)}{argument}}}}}"


@dataclass(slots=True)
class Break(Node):
    def __str__(self) -> str:
        return "{{break}}"


@dataclass(slots=True)
class Continue(Node):
    def __str__(self) -> str:
        return "{{continue}}"


@dataclass(slots=True)
class _End(Node):
    def __str__(self) -> str:
        return "{{end}}"


@dataclass(slots=True)
class _Else(Node):
    def __str__(self) -> str:
        return "{{else}}"


def parse_trees(source: str, *, name: str, functions: frozenset[str]) -> dict[str, ListNode]:
    """The template ``name`` and every template it defines, by name."""
    trees: dict[str, ListNode] = {}
    try:
        _Parser(source, name=name, functions=functions, trees=trees).parse()
    except RecursionError:
        raise GoTemplateError(f"{name}: template nests too deeply") from None
    return trees


def is_empty(tree: ListNode) -> bool:
    """Go's IsEmptyTree: nothing but white space (a define may then be replaced)."""
    return all(isinstance(node, Text) and not node.text.strip() for node in tree.nodes)


class _Parser:
    def __init__(
        self, source: str, *, name: str, functions: frozenset[str], trees: dict[str, ListNode]
    ) -> None:
        self.name = name
        self.functions = functions
        self.trees = trees
        self.tokens = lex(source)
        self.index = 0
        self.furthest = 0  # Go reports the line of the last token read
        self.vars = ["$"]
        self.range_depth = 0
        self.nesting = 0
        self.action_line = 0

    # token stream

    def next(self) -> Token:
        token = self.tokens[min(self.index, len(self.tokens) - 1)]
        self.furthest = max(self.furthest, min(self.index, len(self.tokens) - 1))
        self.index += 1
        return token

    def backup(self) -> None:
        self.index -= 1

    def peek(self) -> Token:
        token = self.next()
        self.backup()
        return token

    def next_non_space(self) -> Token:
        token = self.next()
        while token.kind is Kind.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        token = self.next_non_space()
        self.backup()
        return token

    def error(self, message: str) -> GoTemplateError:
        """The error to raise, at the line of the last token read (as Go reports it)."""
        return GoTemplateError(f"{self.name}:{self.tokens[self.furthest].line}: {message}")

    def expect(self, kinds: tuple[Kind, ...], context: str) -> Token:
        token = self.next_non_space()
        if token.kind not in kinds:
            raise self.unexpected(token, context)
        return token

    def unexpected(self, token: Token, context: str) -> GoTemplateError:
        if token.kind is Kind.ERROR:
            extra = ""
            if self.action_line not in (0, token.line):
                extra = f" in action started at {self.name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra.removeprefix(" in action")
            return self.error(token.val + extra)
        return self.error(f"unexpected {token} in {context}")

    # templates

    def parse(self) -> None:
        root = ListNode(self.peek().pos)
        while self.peek().kind is not Kind.EOF:
            if self.peek().kind is Kind.LEFT_DELIM:
                mark = self.index
                self.next()
                if self.next_non_space().kind is Kind.DEFINE:
                    self.parse_definition()
                    continue
                self.index = mark
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                raise self.error(f"unexpected {node}")
            root.nodes.append(node)
        self.add(self.name, root)

    def add(self, name: str, tree: ListNode) -> None:
        existing = self.trees.get(name)
        if existing is None or is_empty(existing):
            self.trees[name] = tree
        elif not is_empty(tree):
            raise self.error(f"multiple definition of template {go_quote(name)}")

    def parse_definition(self) -> None:
        context = "define clause"
        name = self.template_name(self.next_non_space(), context)
        self.expect((Kind.RIGHT_DELIM,), context)
        body, end = self.tree_body()
        if not isinstance(end, _End):
            raise self.error(f"unexpected {end} in {context}")
        self.add(name, body)

    def tree_body(self) -> tuple[ListNode, Node]:
        """A define or block body: its own variables (only ``$``), outside any range."""
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        try:
            return self.item_list()
        finally:
            self.vars, self.range_depth = saved

    def item_list(self) -> tuple[ListNode, Node]:
        """Nodes up to an ``{{end}}`` or ``{{else}}``, returned separately."""
        nodes = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().kind is not Kind.EOF:
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                return nodes, node
            nodes.nodes.append(node)
        raise self.error("unexpected EOF")

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.kind is Kind.TEXT:
            return Text(token.pos, token.val)
        if token.kind is Kind.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        raise self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        match token.kind:
            case Kind.BLOCK:
                return self.block_control()
            case Kind.BREAK | Kind.CONTINUE:
                return self.loop_control(token)
            case Kind.ELSE:
                return self.else_control()
            case Kind.END:
                return _End(self.expect((Kind.RIGHT_DELIM,), "end").pos)
            case Kind.IF:
                return self.control("if")
            case Kind.RANGE:
                return self.control("range")
            case Kind.TEMPLATE:
                return self.template_control()
            case Kind.WITH:
                return self.control("with")
        self.backup()
        return Action(self.peek().pos, self.pipeline("command", Kind.RIGHT_DELIM))

    def loop_control(self, token: Token) -> Node:
        word = "{{" + token.val + "}}"
        after = self.next_non_space()
        if after.kind is not Kind.RIGHT_DELIM:
            raise self.unexpected(after, word)
        if self.range_depth == 0:
            raise self.error(f"{word} outside {{{{range}}}}")
        return Break(token.pos) if token.kind is Kind.BREAK else Continue(token.pos)

    def else_control(self) -> Node:
        following = self.peek_non_space()
        if following.kind in (Kind.IF, Kind.WITH):  # "else if" and "else with" chain
            return _Else(following.pos)
        return _Else(self.expect((Kind.RIGHT_DELIM,), "else").pos)

    def control(self, kind: Literal["if", "with", "range"]) -> Branch:
        declared = len(self.vars)
        self.nest()
        try:
            pipe = self.pipeline(kind, Kind.RIGHT_DELIM)
            loop = int(kind == "range")
            self.range_depth += loop
            body, end = self.item_list()
            self.range_depth -= loop
            else_body = None
            if isinstance(end, _Else):
                if kind != "range" and self.peek().kind is (Kind.IF if kind == "if" else Kind.WITH):
                    self.next()  # {{else if x}} is {{else}}{{if x}}...{{end}}{{end}}
                    else_body = ListNode(end.pos, [self.control(kind)])
                else:
                    else_body, end = self.item_list()
                    if not isinstance(end, _End):
                        raise self.error(f"expected end; found {end}")
            return Branch(pipe.pos, kind, pipe, body, else_body)
        finally:
            del self.vars[declared:]
            self.nesting -= 1

    def nest(self) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error("max expression depth exceeded")

    def block_control(self) -> Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, Kind.RIGHT_DELIM)
        body, end = self.tree_body()
        if not isinstance(end, _End):
            raise self.error(f"unexpected {end} in {context}")
        self.add(name, body)
        return TemplateCall(token.pos, name, pipe)

    def template_control(self) -> Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = None
        if self.next_non_space().kind is not Kind.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, Kind.RIGHT_DELIM)
        return TemplateCall(token.pos, name, pipe)

    def template_name(self, token: Token, context: str) -> str:
        if token.kind not in (Kind.STRING, Kind.RAW_STRING):
            raise self.unexpected(token, context)
        return self.unquote(token.val)

    # pipelines

    def pipeline(self, context: str, end: Kind) -> Pipe:
        pipe = Pipe(self.peek_non_space().pos)
        while (variable := self.peek_non_space()).kind is Kind.VARIABLE:
            mark = self.index
            self.next()
            following = self.peek_non_space()
            if following.kind in (Kind.ASSIGN, Kind.DECLARE):
                pipe.is_assign = following.kind is Kind.ASSIGN
                self.next_non_space()
                pipe.decl.append(Variable(variable.pos, tuple(variable.val.split("."))))
                self.vars.append(variable.val)
            elif following.kind is Kind.CHAR and following.val == ",":
                self.next_non_space()
                pipe.decl.append(Variable(variable.pos, tuple(variable.val.split("."))))
                self.vars.append(variable.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in (Kind.VARIABLE, Kind.RIGHT_DELIM, Kind.RIGHT_PAREN):
                        continue  # the second variable of "range $i, $v :="
                    raise self.error("range can only initialize variables")
                raise self.error(f"too many declarations in {context}")
            else:
                self.index = mark  # a variable used as an operand
            break
        while True:
            token = self.next_non_space()
            if token.kind is end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.kind not in _OPERAND_START:
                raise self.unexpected(token, context)
            self.backup()
            pipe.cmds.append(self.command())

    def check_pipeline(self, pipe: Pipe, context: str) -> None:
        if not pipe.cmds:
            raise self.error(f"missing value for {context}")
        for stage, cmd in enumerate(pipe.cmds[1:], start=2):
            if isinstance(cmd.args[0], Bool | Dot | Nil | Number | String):
                raise self.error(f"non executable command in pipeline stage {stage}")

    def command(self) -> Command:
        cmd = Command(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.kind is Kind.SPACE:
                continue
            if token.kind in (Kind.RIGHT_DELIM, Kind.RIGHT_PAREN):
                self.backup()
            elif token.kind is not Kind.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.error("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.peek().kind is not Kind.FIELD:
            return node
        pos = self.peek().pos  # Go places the whole chain at its second part
        fields: list[str] = []
        while self.peek().kind is Kind.FIELD:
            fields.append(self.next().val[1:])
        if isinstance(node, Field):
            return Field(pos, (*node.ident, *fields))
        if isinstance(node, Variable):
            return Variable(pos, (*node.ident, *fields))
        if isinstance(node, Bool | String | Number | Nil | Dot):
            raise self.error(f"unexpected . after term {go_quote(str(node))}")
        return Chain(pos, node, tuple(fields))

    def term(self) -> Node | None:
        token = self.next_non_space()
        match token.kind:
            case Kind.IDENTIFIER:
                if token.val not in self.functions:
                    raise self.error(f"function {go_quote(token.val)} not defined")
                return Identifier(token.pos, token.val)
            case Kind.DOT:
                return Dot(token.pos)
            case Kind.NIL:
                return Nil(token.pos)
            case Kind.VARIABLE:
                variable = Variable(token.pos, tuple(token.val.split(".")))
                if variable.ident[0] not in self.vars:
                    raise self.error(f"undefined variable {go_quote(variable.ident[0])}")
                return variable
            case Kind.FIELD:
                return Field(token.pos, (token.val[1:],))
            case Kind.BOOL:
                return Bool(token.pos, token.val == "true")
            case Kind.CHAR_CONSTANT | Kind.COMPLEX | Kind.NUMBER:
                return Number(token.pos, token.val, self.number(token))
            case Kind.LEFT_PAREN:
                self.nest()
                try:
                    return self.pipeline("parenthesized pipeline", Kind.RIGHT_PAREN)
                finally:
                    self.nesting -= 1
            case Kind.STRING | Kind.RAW_STRING:
                return String(token.pos, token.val, self.unquote(token.val))
        self.backup()
        return None

    # literals

    def number(self, token: Token) -> int | float:
        """The constant as Go's idealConstant types it: int unless written as a float."""
        text = token.val
        if token.kind is Kind.CHAR_CONSTANT:
            try:
                value, _, end = _unquote_char(text, 1, "'")
            except ValueError:
                raise self.error("invalid syntax") from None
            if text[end:] != "'":
                raise self.error(f"malformed character constant: {text}")
            return value
        if token.kind is Kind.COMPLEX or text.endswith("i"):
            raise self.error(f"complex numbers are not supported: {go_quote(text)}")
        hexadecimal = text.lstrip("+-")[:2] in ("0x", "0X")
        if any(c in text for c in ("pP" if hexadecimal else ".eE")):
            try:
                return float.fromhex(text) if hexadecimal else float(text)
            except ValueError:
                raise self.error(f"illegal number syntax: {go_quote(text)}") from None
        try:
            digits = text.lstrip("+-")
            legacy_octal = len(digits) > 1 and digits[0] == "0" and digits[1] in "01234567_"
            value = int(text, 8) if legacy_octal else int(text, 0)
        except ValueError:
            raise self.error(f"illegal number syntax: {go_quote(text)}") from None
        if not -(2**63) <= value < 2**63:
            raise self.error(f"integer overflow: {go_quote(text)}")
        return value

    def unquote(self, quoted: str) -> str:
        """Go's ``strconv.Unquote`` for "interpreted" and `raw` strings."""
        if quoted[0] == "`":
            return quoted[1:-1].replace("\r", "")
        body = quoted[1:-1]
        out = bytearray()
        i = 0
        try:
            while i < len(body):
                value, is_byte, i = _unquote_char(body, i, '"')
                out += bytes([value]) if is_byte else chr(value).encode("utf-8", "surrogatepass")
        except ValueError:
            raise self.error("invalid syntax") from None
        return out.decode("utf-8", "replace")


def _unquote_char(text: str, i: int, quote: str) -> tuple[int, bool, int]:
    """A character of a Go literal at ``text[i]``: its value, whether it is a byte, where the next starts."""
    char = text[i]
    if char == quote:
        raise ValueError(text)
    if char != "\\":
        return ord(char), False, i + 1
    char = text[i + 1 : i + 2]
    if char in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[char], False, i + 2
    if char == quote:
        return ord(char), False, i + 2
    if char and char in "xuU":
        size = {"x": 2, "u": 4, "U": 8}[char]
        digits = text[i + 2 : i + 2 + size]
        if len(digits) != size or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError(text)
        value = int(digits, 16)
        if char != "x" and (value > 0x10FFFF or 0xD800 <= value <= 0xDFFF):
            raise ValueError(text)
        return value, char == "x", i + 2 + size
    digits = text[i + 1 : i + 4]
    if len(digits) == 3 and all(c in "01234567" for c in digits) and int(digits, 8) <= 255:
        return int(digits, 8), True, i + 4
    raise ValueError(text)


def _dot_of(pipe: Pipe | None, dot: tuple[str, ...] | None, root: tuple[str, ...]) -> tuple[str, ...] | None:
    """The path a pipeline evaluates to, when it is a plain field, dot or ``$.Field``: what
    ``with`` and ``template`` set dot to, for :func:`field_paths`."""
    if pipe is None or len(pipe.cmds) != 1 or len(pipe.cmds[0].args) != 1:
        return None
    arg = pipe.cmds[0].args[0]
    if isinstance(arg, Dot):
        return dot
    if isinstance(arg, Field) and dot is not None:
        return dot + arg.ident
    if isinstance(arg, Variable) and arg.ident[0] == "$":
        return root + arg.ident[1:]
    return None


def field_paths(trees: dict[str, ListNode], name: str) -> frozenset[str]:
    """Field paths read from the data (best effort): ``.A.B`` at top level, inside ``with .A`` too.

    Fields inside ``range`` are the elements' and are left out; a trailing time method
    (``.LastTimestamp.Format``) is not a field and is dropped.
    """
    found: set[str] = set()
    visited: set[tuple[str, tuple[str, ...] | None]] = set()

    def add(path: tuple[str, ...]) -> None:
        while len(path) > 1 and path[-1] in TIME_MEMBERS:
            path = path[:-1]
        found.add(".".join(path))

    def visit_pipe(pipe: Pipe | None, dot: tuple[str, ...] | None, root: tuple[str, ...]) -> None:
        for cmd in pipe.cmds if pipe is not None else ():
            for arg in cmd.args:
                if isinstance(arg, Field) and dot is not None:
                    add(dot + arg.ident)
                elif isinstance(arg, Variable) and arg.ident[0] == "$" and root + arg.ident[1:]:
                    add(root + arg.ident[1:])
                elif isinstance(arg, Pipe):
                    visit_pipe(arg, dot, root)
                elif isinstance(arg, Chain) and isinstance(arg.node, Pipe):
                    visit_pipe(arg.node, dot, root)

    def visit(nodes: ListNode, dot: tuple[str, ...] | None, root: tuple[str, ...]) -> None:
        for node in nodes.nodes:
            if isinstance(node, Action):
                visit_pipe(node.pipe, dot, root)
            elif isinstance(node, Branch):
                visit_pipe(node.pipe, dot, root)
                inner = {"if": dot, "with": _dot_of(node.pipe, dot, root), "range": None}[node.kind]
                visit(node.body, inner, root)
                if node.else_body is not None:
                    visit(node.else_body, dot, root)
            elif isinstance(node, TemplateCall):
                visit_pipe(node.pipe, dot, root)
                inner = _dot_of(node.pipe, dot, root)
                if node.name in trees and (node.name, inner) not in visited and inner is not None:
                    visited.add((node.name, inner))
                    visit(trees[node.name], inner, inner)

    visit(trees[name], (), ())
    return frozenset(found)
