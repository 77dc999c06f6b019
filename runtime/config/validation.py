"""Validating a section against its model: ``*_file`` secrets read, errors located in the file."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from runtime.config.base import SECRET_FILE_SUFFIX, S, _is_secret, _nested_model
from runtime.config.issues import ConfigError, ConfigIssue, _in_file_order, _Source, did_you_mean


def _validate(
    model: type[S],
    data: dict[str, Any],
    source: _Source,
    at: tuple[str | int, ...],
    earlier: Sequence[ConfigIssue] = (),
    *,
    deferred: Sequence[ConfigIssue] = (),
) -> S:
    """Read the model's ``*_file`` secrets, then validate; every problem found is reported at once.

    ``earlier`` problems (unset environment variables) are reported with the rest, and a key
    they already explain is not reported a second time for the empty value that stood in for it.
    ``deferred`` ones (unset variables standing for placeholders) are reported only in place of
    an error about their key.
    """
    files = _SecretFiles(source)
    data = files.resolve(model, data, at)
    explained = {issue.path for issue in [*earlier, *deferred]}
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        every = _issues(exc, source, at, files, model)
        found = [issue for issue in every if issue.path not in explained]
        hit = {issue.path for issue in every}
        stand_ins = [issue for issue in deferred if issue.path in hit]
        raise ConfigError(_in_file_order([*earlier, *stand_ins, *files.issues, *found])) from None
    if earlier or files.issues:
        raise ConfigError(_in_file_order([*earlier, *files.issues]))
    return validated


def _known_keys(model: type[BaseModel] | None, loc: Sequence[str | int]) -> list[str]:
    """The keys the section at ``loc`` (a key path below ``model``) accepts, ``*_file`` forms included."""
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        info = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        model = _nested_model(info.annotation) if info is not None else None
    if model is None:
        return []
    keys = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        keys.append(key)
        if _is_secret(info.annotation):
            keys.append(f"{key}{SECRET_FILE_SUFFIX}")
    return keys


@dataclass
class _SecretFiles:
    """Replaces ``<name>_file: PATH`` by ``<name>: <content of PATH>`` for each secret setting.

    Only settings typed ``SecretStr`` qualify, so a key that merely ends in ``_file`` (a
    receiver's ``ca_file``) keeps its meaning. A relative PATH is relative to the config
    file's directory. Problems name the ``_file`` key and the path, never the content;
    errors about a secret read from a file are located at the ``_file`` key.
    """

    source: _Source
    issues: list[ConfigIssue] = field(default_factory=list)
    renamed: dict[tuple[str | int, ...], tuple[str | int, ...]] = field(default_factory=dict)
    """The path of each setting read from a file -> the path of the ``_file`` key naming it."""
    failed: set[tuple[str | int, ...]] = field(default_factory=set)
    """Settings whose file could not be read: their own errors would only repeat that."""

    def resolve(self, model: type[BaseModel], data: Any, path: tuple[str | int, ...]) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        keys = {info.alias or name for name, info in model.model_fields.items()}
        for name, info in model.model_fields.items():
            key = info.alias or name
            file_key = f"{key}{SECRET_FILE_SUFFIX}"
            if file_key in out and file_key not in keys and _is_secret(info.annotation):
                self._read_into(out, key=key, file_key=file_key, path=path)
            nested = _nested_model(info.annotation)
            if nested is None or key not in out:
                continue
            value = out[key]
            if isinstance(value, list):
                out[key] = [self.resolve(nested, item, (*path, key, i)) for i, item in enumerate(value)]
            else:
                out[key] = self.resolve(nested, value, (*path, key))
        return out

    def _read_into(
        self, out: dict[str, Any], *, key: str, file_key: str, path: tuple[str | int, ...]
    ) -> None:
        at, file_at = (*path, key), (*path, file_key)
        named = out.pop(file_key)
        if key in out:
            self._problem(file_at, f"set either {key} or {file_key}, not both")
            return
        self.failed.add(at)
        if not isinstance(named, str) or not named.strip():
            self._problem(file_at, "expected the path of a file holding the secret")
            return
        secret_path = Path(named)
        if not secret_path.is_absolute() and self.source.file != "<defaults>":
            secret_path = Path(self.source.file).parent / secret_path
        try:
            text = secret_path.read_bytes().decode("utf-8").rstrip("\r\n")
        except OSError as exc:
            self._problem(file_at, f"cannot read {secret_path}: {exc.strerror or type(exc).__name__}")
            return
        except UnicodeDecodeError:
            self._problem(file_at, f"{secret_path} is not UTF-8 text")
            return
        if not text:
            self._problem(file_at, f"{secret_path} is empty")
            return
        self.failed.discard(at)
        self.renamed[at] = file_at
        out[key] = text

    def _problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.issues.append(ConfigIssue(self.source.file, path, self.source.line_of(path), message))

    def origin(self, path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
        """The ``_file`` key path standing for ``path`` (or a setting holding it), if any."""
        for at, file_at in self.renamed.items():
            if path[: len(at)] == at:
                return (*file_at, *path[len(at) :])
        return None

    def masks(self, path: tuple[str | int, ...]) -> bool:
        """Errors about a setting whose file failed, or about the section holding it (``username``
        without ``password``), would only repeat that failure."""
        return any(path[: len(at)] == at or at[: len(path)] == path for at in self.failed)


def _issues(
    exc: ValidationError,
    source: _Source | None,
    prefix: tuple[str | int, ...],
    files: _SecretFiles | None = None,
    model: type[BaseModel] | None = None,
) -> list[ConfigIssue]:
    file = source.file if source else "<defaults>"
    issues = []
    for error in exc.errors(include_url=False):
        path = (*prefix, *error["loc"])
        message = error["msg"]
        from_file = files.origin(path) if files else None
        if files and files.masks(path):
            continue
        if from_file is not None:
            path = from_file
            if error["type"] != "kafka_security":  # about the setting, not what the file holds
                message = f"{message} (checked the content of the file)"
        elif error["type"] == "extra_forbidden":
            key = str(error["loc"][-1]) if error["loc"] else ""
            hint = did_you_mean(key, _known_keys(model, error["loc"][:-1]))
            message = f"unknown key{hint or ' (check its spelling)'}"
        elif error["type"] in ("float_parsing", "int_parsing") and _UNIT.fullmatch(str(error.get("input"))):
            number, unit = _UNIT.fullmatch(str(error["input"])).groups()  # type: ignore[union-attr]
            message = f"expected a number without a unit (got {error['input']!r}"
            if str(path[-1]).endswith("_seconds"):
                seconds = float(number) * _SECONDS[unit]
                message += f": write {seconds:g}, in seconds"
            message += ")"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] == "time_zone":
            pass  # the message names the zone and, if it can, the one meant
        elif "input" in error and not isinstance(error["input"], dict) and not _looks_secret(path):
            # A dict is a whole section, whose secrets the key path cannot tell apart.
            message = f"{message} (got {_brief(error['input'])})"
        line = source.line_of(path) if source else None
        issues.append(ConfigIssue(file, path, line, message))
    return issues


_UNIT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _looks_secret(path: tuple[str | int, ...]) -> bool:
    leaf = str(path[-1]).lower() if path else ""
    return any(word in leaf for word in ("secret", "password", "token", "key", "url", "header"))


def _brief(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
