"""A faithful subset of Go's text/template, for kube-eventer users' webhook body templates.

Users coming from Alibaba's kube-eventer have a ConfigMap whose ``content`` is a Go template
rendering a JSON body from a core/v1 Event. :func:`parse` and :meth:`GoTemplate.execute`
render it as Go would: same syntax (trim markers, pipelines, variables, if/with/range,
define/template/block, the built-in functions), same printing (``%v``, ``time.Time``), and
errors worded like Go's, located by template name, line and column.

One addition: with ``json_strings=True`` a value printed inside a JSON string literal of the
template is escaped for JSON, so an Event message with quotes, backslashes or newlines keeps
the body valid (kube-eventer broke on those). The data stands for Go structs: dicts with
Go-cased keys, where a missing key is an error (a typo'd field), not ``<no value>``.

Not supported: custom functions and ``call``, methods other than a time's (``.Local`` returns
the time as it is), complex numbers, custom delimiters, ``%[n]`` argument indexes, ``%#v``
(printed as ``%v``), ``%x``/``%b`` and ``%#`` forms of floats, and verbs other than
v s q x X on a time. ``index`` of a missing map key gives "" (Kubernetes' maps hold strings)
and a literal ``nil`` prints ``<nil>`` where Go sometimes prints ``<no value>``.
"""

from __future__ import annotations

from ._errors import GoTemplateError
from ._exec import execute
from ._funcs import ARITY
from ._parse import ListNode, field_paths, parse_trees
from ._time import GoTime

__all__ = ["GoTemplate", "GoTemplateError", "GoTime", "parse"]


class GoTemplate:
    """A parsed template, executed once per event."""

    __slots__ = ("_fields", "_source", "_trees", "name")

    def __init__(self, name: str, source: str, trees: dict[str, ListNode]) -> None:
        self.name = name
        self._source = source
        self._trees = trees
        self._fields = field_paths(trees, name)

    def __repr__(self) -> str:
        return f"GoTemplate(name={self.name!r})"

    def execute(self, data: object, *, json_strings: bool = True) -> str:
        """Render ``data``; raises :class:`GoTemplateError` with Go's wording on any failure."""
        return execute(self._trees, source=self._source, name=self.name, data=data, json_strings=json_strings)

    @property
    def fields(self) -> frozenset[str]:
        """Every field path the template reads from dot at top level (best effort, for documentation
        and checks), e.g. ``{"Type", "InvolvedObject.Namespace", "LastTimestamp"}``."""
        return self._fields


def parse(source: str, *, name: str = "body") -> GoTemplate:
    """Parse a Go template; raises :class:`GoTemplateError` (``body:3: unexpected "}" in operand``)."""
    return GoTemplate(name, source, parse_trees(source, name=name, functions=frozenset(ARITY)))
