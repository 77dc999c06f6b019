"""orjson serialization of topic models, with errors that say what was wrong."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from schemas.base import TopicModel

M = TypeVar("M", bound=TopicModel)

_MAX_ERRORS_SHOWN = 5


class SchemaError(ValueError):
    """Bytes that are not a valid message of the expected schema.

    ``reason`` is a short machine-friendly class of failure (``not-json``,
    ``not-an-object``, ``wrong-schema``, ``unsupported-version``, ``invalid``) and the
    message names the offending fields, so a quarantined record explains itself.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def encode(message: TopicModel) -> bytes:
    return orjson.dumps(message.wire())


def decode(data: bytes, model: type[M]) -> M:
    """Parse ``data`` as a message of ``model``'s schema and version."""
    try:
        obj: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SchemaError("not-json", str(exc)) from None
    return from_object(obj, model)


def from_object(obj: Any, model: type[M]) -> M:
    """Validate an already parsed JSON value against ``model``."""
    if not isinstance(obj, dict):
        raise SchemaError("not-an-object", f"expected a JSON object, got {type(obj).__name__}")
    schema, version = obj.get("schema"), obj.get("v")
    if schema != model.SCHEMA:
        raise SchemaError("wrong-schema", f"expected schema {model.SCHEMA!r}, got {_short(schema)}")
    if type(version) is not int or version != model.VERSION:  # not true or 1.0, which equal 1
        raise SchemaError(
            "unsupported-version", f"{model.SCHEMA} v{model.VERSION} expected, got v{_short(version)}"
        )
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise SchemaError("invalid", describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """The first few field errors of a validation failure, on one line, without input values."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:_MAX_ERRORS_SHOWN]:
        location = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{location}: {error['msg']}")
    more = exc.error_count() - _MAX_ERRORS_SHOWN
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
