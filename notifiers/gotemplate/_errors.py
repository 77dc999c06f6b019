"""The errors of the Go template engine: one for users, one internal to built-in functions."""

from __future__ import annotations


class GoTemplateError(ValueError):
    """A parse or execution error, worded like Go's ``template: body:3: ...`` without the prefix."""


class FuncError(Exception):
    """A built-in function failed; the executor says where (Go's ``error calling index: ...``)."""
