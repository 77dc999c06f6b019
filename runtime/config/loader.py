"""The one loader: a YAML file, ``${ENV}`` interpolated, to a :class:`HeraldConfig`, with located errors."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import TypeAdapter, ValidationError

from runtime.config.issues import ConfigError, ConfigIssue, _in_file_order, _Source
from runtime.config.receivers import ReceiverEntry
from runtime.config.root import HeraldConfig
from runtime.config.validation import _issues, _SecretFiles, _validate

ENV_CONFIG_PATH = "HERALD_CONFIG"
ENV_BOOTSTRAP = "HERALD_KAFKA_BOOTSTRAP"
ENV_TOPIC_PREFIX = "HERALD_TOPIC_PREFIX"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

LoadMode = Literal["strict", "lenient", "check"]
"""How :func:`load_config` treats problems. ``strict``: any problem raises (the stages).
``lenient``: an unset ``${VAR}`` inside ``receivers`` stands for a placeholder and is raised
only by :meth:`HeraldConfig.require_secrets` for that receiver (commands that deliver nothing,
and a notifier, which needs its own receiver's variables only). ``check``: nothing but an
unreadable file or invalid YAML raises; every problem is kept in :attr:`HeraldConfig.problems`
and the sections without errors are loaded, so ``check-config`` can go on to the receivers."""
PLACEHOLDER_URL = "https://unset.invalid/?key=unset&access_token=unset"
"""What a receiver setting that is one unset ``${VAR}`` reads in lenient mode: a URL that every
receiver's URL check accepts and that is never contacted (``.invalid`` cannot resolve)."""
PLACEHOLDER = "unset"
"""What an unset ``${VAR}`` inside a longer receiver setting reads in lenient mode."""


def load_config(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None, mode: LoadMode = "strict"
) -> HeraldConfig:
    """Load ``path`` (or $HERALD_CONFIG; or defaults), interpolate ``${ENV}`` and validate;
    ``mode`` says what a problem does (:data:`LoadMode`)."""
    environ = os.environ if env is None else env
    chosen = path or environ.get(ENV_CONFIG_PATH)
    unset: list[ConfigIssue] = []
    if chosen:
        source, data = _read(Path(chosen), environ, unset, placeholders=mode != "strict")
    else:
        source, data = _Source("<defaults>"), {}
    _apply_env_overrides(data, environ)
    deferred = tuple(issue for issue in unset if mode != "strict" and issue.path[:1] == ("receivers",))
    if mode == "check":
        config, problems, unchecked = _salvage(data, source, unset)
        config._problems, config._unchecked = tuple(problems), unchecked
    else:
        earlier = [issue for issue in unset if issue not in deferred]
        config = _validate(HeraldConfig, data, source, (), earlier, deferred=deferred)
    config._source, config._unset = source, deferred
    return config


CROSS_CHECKS = frozenset({"duplicate_receiver", "unknown_receiver"})
"""Errors of HeraldConfig's own validators, which run only once every section is valid."""


def _salvage(
    data: dict[str, Any], source: _Source, unset: list[ConfigIssue]
) -> tuple[HeraldConfig, list[ConfigIssue], frozenset[int]]:
    """Check mode: every problem of the file, and a config of the sections that have none.

    A section with an error is left at its defaults, and a receiver entry whose name or type
    is wrong is kept but marked unchecked, so the other entries keep their indexes; then the
    checks across sections (unique receiver names, routes naming receivers) run on what is left,
    which pydantic would skip after any error.
    """
    files = _SecretFiles(source)
    data = files.resolve(HeraldConfig, data, ())
    explained = {issue.path for issue in unset}
    problems = [*unset, *files.issues]
    try:
        return HeraldConfig.model_validate(data), _in_file_order(problems), frozenset()
    except ValidationError as exc:
        errors = [error for error in exc.errors(include_url=False) if error["type"] not in CROSS_CHECKS]
        problems += [
            issue for issue in _issues(exc, source, (), files, HeraldConfig) if issue.path not in explained
        ]
    broken = {error["loc"][0] for error in errors if error["loc"]}
    fields: dict[str, Any] = {}
    unchecked: set[int] = set()
    for name, info in HeraldConfig.model_fields.items():
        key = info.alias or name
        if key not in data or (key in broken and key != "receivers"):
            continue
        if key == "receivers" and isinstance(data[key], list):
            fields[name] = _entries(data[key], errors, unchecked)
            continue
        try:
            fields[name] = TypeAdapter[Any](info.annotation or Any).validate_python(data[key])
        except ValidationError:
            continue
    config = HeraldConfig.model_construct(**fields)
    for check in (config.check_receiver_names, config.check_route_receivers):
        try:
            check()
        except ValidationError as exc:
            problems += _issues(exc, source, (), files, HeraldConfig)
    unique = list({str(issue): issue for issue in problems}.values())
    return config, _in_file_order(unique), frozenset(unchecked)


def _entries(items: list[Any], errors: list[Any], unchecked: set[int]) -> list[ReceiverEntry]:
    """The receiver entries, each at its index: one with errors in the keys every receiver has
    drops a wrong ``language`` or ``timezone``, and is kept unchecked if its name or type is wrong."""
    entries = []
    for index, item in enumerate(items):
        at = [error["loc"][2:3] for error in errors if error["loc"][:2] == ("receivers", index)]
        wrong = {loc[0] if loc else None for loc in at}
        entry = dict(item) if isinstance(item, dict) else {}
        for key in ("language", "timezone"):
            if key in wrong:
                entry.pop(key, None)
        if not isinstance(item, dict) or wrong & {None, "name", "type"}:
            unchecked.add(index)
            name = entry.get("name") if "name" not in wrong else None
            # An empty name is no receiver's: routes naming the wrong one are reported too.
            entries.append(ReceiverEntry.model_construct(name=name if isinstance(name, str) else "", type=""))
        else:
            entries.append(ReceiverEntry.model_validate(entry))
    return entries


def _read(
    path: Path, environ: Mapping[str, str], unset: list[ConfigIssue], *, placeholders: bool = False
) -> tuple[_Source, dict[str, Any]]:
    """Parse and interpolate ``path``; unset variables are collected in ``unset``, not raised,
    so they are reported together with every other mistake in the file. With ``placeholders``,
    one inside ``receivers`` reads :data:`PLACEHOLDER_URL` or :data:`PLACEHOLDER`, not empty."""
    source = _Source(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), (), None, f"cannot read: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigIssue(str(path), (), line, _yaml_problem(exc, text, line))]) from None
    if data is None:
        return source, {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(str(path), (), 1, "expected a mapping at the top level")])
    _index_lines(node, (), source.lines)
    return source, _interpolate(data, (), environ, source, unset, placeholders=placeholders)


def _yaml_problem(exc: yaml.YAMLError, text: str, line: int | None) -> str:
    """PyYAML's problem in one line, with what the offending line holds (the file is known)."""
    problem = getattr(exc, "problem", None)
    if not problem:
        return f"not valid YAML: {exc}"
    message = f"not valid YAML: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark.line + 1 != line:
        message += f" ({context} at line {context_mark.line + 1})"
    elif context:
        message += f" ({context})"
    lines = text.splitlines()
    if line and line <= len(lines):
        message += f": {lines[line - 1].strip()!r}"
    return message


def _index_lines(
    node: yaml.Node | None, path: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]
) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            lines[child] = key_node.start_mark.line + 1
            _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _index_lines(item, child, lines)


def _interpolate(
    value: Any,
    path: tuple[str | int, ...],
    environ: Mapping[str, str],
    source: _Source,
    missing: list[ConfigIssue],
    *,
    placeholders: bool = False,
) -> Any:
    if isinstance(value, dict):
        return {
            k: _interpolate(v, (*path, str(k)), environ, source, missing, placeholders=placeholders)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(v, (*path, i), environ, source, missing, placeholders=placeholders)
            for i, v in enumerate(value)
        ]
    if isinstance(value, str):
        stand_in = placeholders and path[:1] == ("receivers",)

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            missing.append(
                ConfigIssue(
                    source.file, path, source.line_of(path), f"environment variable {name} is not set"
                )
            )
            if not stand_in:
                return ""
            return PLACEHOLDER_URL if match.group(0) == value.strip() else PLACEHOLDER

        return _ENV_REF.sub(substitute, value)
    return value


def _apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Let the environment point every process at one broker and one prefix (tests, CI, compose)."""
    overrides = {ENV_BOOTSTRAP: "bootstrap_servers", ENV_TOPIC_PREFIX: "topic_prefix"}
    for variable, key in overrides.items():
        if variable in environ:
            kafka = data.setdefault("kafka", {})
            if isinstance(kafka, dict):
                kafka[key] = environ[variable]
