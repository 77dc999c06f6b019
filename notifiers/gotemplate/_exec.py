"""Executes a parsed template against data, as ``text/template/exec.go`` does, messages included.

What is ours: while writing, the executor follows whether the output is inside a JSON string
literal (from the template's own text, where a ``"`` opens or closes one unless a backslash
escapes it), and escapes every value printed inside one for JSON. An Event message with
quotes, backslashes or newlines then keeps a kube-eventer webhook body valid JSON.
Runaway templates are bounded: output size, template depth, range iterations and steps.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence

from ._errors import FuncError, GoTemplateError
from ._fmt import format_value, go_quote, sorted_keys, type_name
from ._funcs import ARITY, CALLS
from ._parse import (
    Action,
    Bool,
    Branch,
    Break,
    Chain,
    Command,
    Continue,
    Dot,
    Field,
    Identifier,
    ListNode,
    Nil,
    Node,
    Number,
    Pipe,
    String,
    TemplateCall,
    Text,
    Variable,
)
from ._time import GoTime

MAX_OUTPUT_BYTES = 1 << 20
MAX_TEMPLATE_DEPTH = 50
MAX_RANGE_ITERATIONS = 100_000
MAX_STEPS = 1_000_000  # nodes walked; bounds recursion that prints nothing

_JSON_SPECIAL = re.compile(r'["\\]')
_JSON_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class _Missing(enum.Enum):
    """No value piped into a command (Go's missingVal)."""

    MISSING = enum.auto()


_MISSING = _Missing.MISSING


class _BreakLoop(Exception):  # noqa: N818 - control flow, not an error
    pass


class _ContinueLoop(Exception):  # noqa: N818 - control flow, not an error
    pass


def json_escape(text: str) -> str:
    """Escape text for the inside of a JSON string; non-ASCII stays as it is."""
    return _JSON_ESCAPE.sub(lambda m: _JSON_ESCAPES.get(m[0]) or f"\\u{ord(m[0]):04x}", text)


def execute(trees: dict[str, ListNode], *, source: str, name: str, data: object, json_strings: bool) -> str:
    executor = _Executor(trees, source=source, name=name, json_strings=json_strings)
    executor.vars.append(["$", data])
    try:
        executor.walk(data, trees[name])
    except RecursionError:
        raise GoTemplateError(f"{name}: template nests too deeply to execute") from None
    return "".join(executor.parts)


class _Executor:
    def __init__(self, trees: dict[str, ListNode], *, source: str, name: str, json_strings: bool) -> None:
        self.trees = trees
        self.source = source
        self.parse_name = name
        self.template = name  # the template executing now, for messages
        self.json_strings = json_strings
        self.parts: list[str] = []
        self.size = 0
        self.in_string = False  # inside a JSON string literal of the template's text
        self.escaped = False  # after a backslash inside one
        self.vars: list[list[object]] = []  # [name, value] pairs, innermost last
        self.node: Node | None = None
        self.depth = 0
        self.steps = 0
        self.iterations = 0

    # errors and output

    def error(self, message: str) -> GoTemplateError:
        """The error to raise, located at the node being executed."""
        if self.node is None:
            return GoTemplateError(f"{self.template}: {message}")
        before = self.source[: self.node.pos]
        line = before.count("\n") + 1
        column = len(before[before.rfind("\n") + 1 :].encode())  # Go counts bytes from 0
        return GoTemplateError(
            f"{self.parse_name}:{line}:{column}: executing {go_quote(self.template)} "
            f"at <{self.node}>: {message}"
        )

    def write(self, text: str) -> None:
        self.size += len(text.encode())
        if self.size > MAX_OUTPUT_BYTES:
            raise self.error(f"output exceeds {MAX_OUTPUT_BYTES} bytes")
        self.parts.append(text)

    def write_text(self, text: str) -> None:
        if self.json_strings:
            self.follow_json(text)
        self.write(text)

    def write_value(self, text: str) -> None:
        if self.json_strings and self.in_string and text:
            text = json_escape(text)
            self.escaped = False  # a backslash just before the value escaped its first character
        self.write(text)

    def follow_json(self, text: str) -> None:
        i = 0
        if self.escaped and text:
            self.escaped, i = False, 1
        while match := _JSON_SPECIAL.search(text, i):
            i = match.end()
            if match[0] == '"':
                self.in_string = not self.in_string
            elif self.in_string:
                if i == len(text):
                    self.escaped = True
                i += 1

    # walking

    def walk(self, dot: object, node: Node) -> None:
        if not isinstance(node, ListNode):  # a list would quote all of itself in a message
            self.node = node
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.error(f"execution exceeds {MAX_STEPS} steps")
        match node:
            case Action(pipe=pipe):
                value = self.eval_pipeline(dot, pipe)
                if not pipe.decl:
                    self.node = node
                    self.write_value(format_value(value))
            case Text(text=text):
                self.write_text(text)
            case ListNode(nodes=nodes):
                for child in nodes:
                    self.walk(dot, child)
            case Branch(kind="range"):
                self.walk_range(dot, node)
            case Branch():
                self.walk_if_or_with(dot, node)
            case TemplateCall():
                self.walk_template(dot, node)
            case Break():
                raise _BreakLoop
            case Continue():
                raise _ContinueLoop

    def walk_if_or_with(self, dot: object, node: Branch) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if value:  # Python's truth is Go's for these values: false, 0, nil and empty are false
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: object, node: Branch) -> None:
        outer = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            items: Iterable[tuple[object, object]]
            if isinstance(value, list | tuple):
                items = enumerate(value)
            elif isinstance(value, dict):
                items = ((key, value[key]) for key in sorted_keys(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                if len(node.pipe.decl) > 1:
                    raise self.error(f"can't use {value} to iterate over more than one variable")
                items = ((i, i) for i in range(value))
            elif value is None:
                items = ()
            else:
                raise self.error(f"range can't iterate over {format_value(value)}")
            if not self.range_items(node, items) and node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[outer:]

    def range_items(self, node: Branch, items: Iterable[tuple[object, object]]) -> bool:
        """Walk the body once per item; whether there was any."""
        decl, assign = node.pipe.decl, node.pipe.is_assign
        mark = len(self.vars)
        ran = False
        try:
            for index, element in items:
                ran = True
                self.iterations += 1
                if self.iterations > MAX_RANGE_ITERATIONS:
                    raise self.error(f"range exceeds {MAX_RANGE_ITERATIONS} iterations")
                # One variable gets the element; with two, the first gets the index or key.
                values = (element,) if len(decl) == 1 else (index, element)
                for slot, (variable, value) in enumerate(zip(decl, values, strict=False)):
                    if assign:
                        self.set_var(variable, value)
                    else:  # declared by the range pipeline: just below the mark, in order
                        self.vars[mark - len(decl) + slot][1] = value
                try:
                    self.walk(element, node.body)
                except _ContinueLoop:
                    pass
                finally:
                    del self.vars[mark:]
        except _BreakLoop:
            pass
        return ran

    def walk_template(self, dot: object, node: TemplateCall) -> None:
        tree = self.trees.get(node.name)
        if tree is None:
            raise self.error(f"template {go_quote(node.name)} not defined")
        if self.depth >= MAX_TEMPLATE_DEPTH:
            raise self.error(f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")
        value = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else None
        saved = self.vars, self.template
        self.vars, self.template = [["$", value]], node.name  # templates inherit no variables
        self.depth += 1
        try:
            self.walk(value, tree)
        finally:
            self.vars, self.template = saved
            self.depth -= 1

    # variables

    def var_value(self, name: str) -> object:
        for var in reversed(self.vars):
            if var[0] == name:
                return var[1]
        raise self.error(f"undefined variable: {name}")

    def set_var(self, variable: Variable, value: object) -> None:
        for var in reversed(self.vars):
            if var[0] == variable.ident[0]:
                var[1] = value
                return
        raise self.error(f"undefined variable: {variable.ident[0]}")

    # evaluation

    def eval_pipeline(self, dot: object, pipe: Pipe) -> object:
        self.node = pipe
        value: object = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)  # the previous value is the final argument
        for variable in pipe.decl:
            if pipe.is_assign:
                self.set_var(variable, value)
            else:
                self.vars.append([variable.ident[0], value])
        return value

    def eval_command(self, dot: object, cmd: Command, final: object) -> object:
        first = cmd.args[0]
        match first:
            case Field():
                self.node = first
                return self.eval_fields(dot, dot, first.ident, args=cmd.args, final=final)
            case Chain():
                return self.eval_chain(dot, first, cmd.args, final)
            case Identifier():
                return self.eval_function(dot, first, cmd, cmd.args, final)
            case Variable():
                return self.eval_variable(dot, first, cmd.args, final)
            case Pipe():
                self.not_a_function(cmd.args, final)
                return self.eval_pipeline(dot, first)
        self.node = first
        self.not_a_function(cmd.args, final)
        match first:
            case Dot():
                return dot
            case Nil():
                raise self.error("nil is not a command")
        return self.constant(first)

    def constant(self, node: Node) -> object:
        match node:
            case Bool(value=value) | Number(value=value):
                return value
            case String(text=text):
                return text
        raise self.error(f"can't evaluate command {go_quote(str(node))}")

    def not_a_function(self, args: Sequence[Node], final: object) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise self.error(f"can't give argument to non-function {args[0]}")

    def eval_chain(self, dot: object, chain: Chain, args: Sequence[Node] | None, final: object) -> object:
        self.node = chain
        if isinstance(chain.node, Nil):
            raise self.error(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, chain.node)
        return self.eval_fields(dot, receiver, chain.fields, args=args, final=final)

    def eval_variable(
        self, dot: object, variable: Variable, args: Sequence[Node] | None, final: object
    ) -> object:
        self.node = variable
        value = self.var_value(variable.ident[0])
        if len(variable.ident) == 1:
            if args is not None:
                self.not_a_function(args, final)
            return value
        return self.eval_fields(dot, value, variable.ident[1:], args=args, final=final)

    def eval_fields(
        self,
        dot: object,
        receiver: object,
        names: Sequence[str],
        *,
        args: Sequence[Node] | None,
        final: object,
    ) -> object:
        """``.A.B.C`` from the receiver; a method at the end of the chain gets the arguments."""
        for name in names[:-1]:
            receiver = self.eval_field(dot, receiver, name, args=None, final=_MISSING)
        return self.eval_field(dot, receiver, names[-1], args=args, final=final)

    def eval_field(
        self, dot: object, receiver: object, name: str, *, args: Sequence[Node] | None, final: object
    ) -> object:
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        if isinstance(receiver, GoTime):
            if name == "Time":  # metav1.Time embeds time.Time
                if has_args:
                    raise self.error(f"{name} has arguments but cannot be invoked as function")
                return receiver
            if name in ("Format", "Unix", "UTC", "Local", "String"):
                return self.call_time_method(dot, receiver, name, args, final)
            raise self.error(f"can't evaluate field {name} in type time.Time")
        if isinstance(receiver, dict):
            if name not in receiver:  # the data stands for a Go struct: a typo is an error
                raise self.error(f"can't evaluate field {name}")
            if has_args:
                raise self.error(f"{name} is not a method but has arguments")
            return receiver[name]
        if receiver is None:
            raise self.error(f"nil pointer evaluating interface {{}}.{name}")
        raise self.error(f"can't evaluate field {name} in type {type_name(receiver)}")

    def call_time_method(
        self, dot: object, receiver: GoTime, name: str, args: Sequence[Node] | None, final: object
    ) -> object:
        arguments = list(args[1:]) if args else []
        count = len(arguments) + (final is not _MISSING)
        wanted = 1 if name == "Format" else 0
        if count != wanted:
            raise self.error(f"wrong number of args for {name}: want {wanted} got {count}")
        if name == "Format":
            layout = self.eval_string(dot, arguments[0]) if arguments else self.as_string(final)
            return receiver.format(layout)
        if name == "Unix":
            return receiver.unix()
        if name == "UTC":
            return receiver.utc()
        return receiver.string() if name == "String" else receiver

    def eval_function(
        self, dot: object, ident: Identifier, cmd: Node, args: Sequence[Node] | None, final: object
    ) -> object:
        self.node = ident
        name = ident.name
        arguments = list(args[1:]) if args else []
        count = len(arguments) + (final is not _MISSING)
        wanted, variadic = ARITY[name]
        if variadic and count < wanted:
            raise self.error(f"wrong number of args for {name}: want at least {wanted} got {len(arguments)}")
        if not variadic and count != wanted:
            raise self.error(f"wrong number of args for {name}: want {wanted} got {count}")
        if name in ("and", "or"):  # evaluated lazily: the first deciding operand is the result
            value: object = None
            for argument in arguments:
                value = self.eval_arg(dot, argument)
                if bool(value) == (name == "or"):
                    return value
            return value if final is _MISSING else final
        # printf's format must be a string, as Go checks its parameter's type
        values = [
            self.eval_string(dot, argument) if name == "printf" and i == 0 else self.eval_arg(dot, argument)
            for i, argument in enumerate(arguments)
        ]
        if final is not _MISSING:
            values.append(self.as_string(final) if name == "printf" and not arguments else final)
        try:
            return CALLS[name](values)
        except FuncError as exc:
            self.node = cmd
            raise self.error(f"error calling {name}: {exc}") from None

    def eval_arg(self, dot: object, node: Node) -> object:
        self.node = node
        match node:
            case Dot():
                return dot
            case Nil():
                return None
            case Field():
                return self.eval_fields(dot, dot, node.ident, args=[node], final=_MISSING)
            case Variable():
                return self.eval_variable(dot, node, None, _MISSING)
            case Pipe():
                return self.eval_pipeline(dot, node)
            case Identifier():
                return self.eval_function(dot, node, node, None, _MISSING)
            case Chain():
                return self.eval_chain(dot, node, None, _MISSING)
        return self.constant(node)

    def eval_string(self, dot: object, node: Node) -> str:
        """An argument where Go wants a string (a layout, a printf format)."""
        self.node = node
        if isinstance(node, String):
            return node.text
        if isinstance(node, Nil):
            raise self.error("cannot assign nil to string")
        if isinstance(node, Bool | Number):
            raise self.error(f"expected string; found {node}")
        return self.as_string(self.eval_arg(dot, node))

    def as_string(self, value: object) -> str:
        if isinstance(value, str):
            return value
        if value is None:
            raise self.error("invalid value; expected string")
        raise self.error(f"wrong type for value; expected string; got {type_name(value)}")
