"""Label matchers in Alertmanager's shape, shared by routes, inhibition rules and silences.

Written as ``name op value`` with op one of ``=``, ``!=``, ``=~``, ``!~`` (the value may be
double-quoted, as in ``severity=~"warning|critical"``), or as a mapping
``{name, op, value}``. Regular expressions match the whole value, as Alertmanager's do,
and a label that is absent matches as the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import Field, model_validator

from schemas.base import NestedModel

LABEL_NAME = r"[A-Za-z_][A-Za-z0-9_./-]*"
_TEXT_FORM = re.compile(rf"^\s*({LABEL_NAME})\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


class MatchOp(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        body = value[1:-1]
        return re.sub(r'\\(["\\])', r"\1", body)
    return value


class Matcher(NestedModel):
    name: str = Field(min_length=1, pattern=rf"^{LABEL_NAME}$")
    op: MatchOp
    value: str

    model_config = NestedModel.model_config | {"ignored_types": (cached_property,)}

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        found = _TEXT_FORM.match(data)
        if found is None:
            raise ValueError(
                f"{data!r} is not a matcher: expected name=value, name!=value, name=~regex or name!~regex"
            )
        name, op, value = found.groups()
        return {"name": name, "op": op, "value": _unquote(value)}

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"{self.name}: not a valid regular expression: {exc}") from None
        return self

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(self.value, re.DOTALL)

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.op is MatchOp.EQUAL:
            return value == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return value != self.value
        found = self._pattern.fullmatch(value) is not None
        return found if self.op is MatchOp.REGEX else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op.value}"{escaped}"'


def match_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(matcher.matches(labels) for matcher in matchers)
