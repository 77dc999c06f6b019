"""Write (or check) docs/configuration.md, the reference of every key of herald.yaml.

The reference is generated from the pydantic models that validate the file (runtime/config/
and each receiver's own model in notifiers/receivers/), so it cannot drift from them:
``python -m herald.config_reference`` rewrites it, ``--check`` fails when the committed file
differs or when a field has no description. It lives in ``herald/`` because the receivers'
models belong to the notifiers, which ``runtime/`` may not import.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from notifiers.receivers import REGISTRY
from notifiers.sinks import KUBE_EVENTER, KubeEventerEntry
from runtime.config import (
    ENV_BOOTSTRAP,
    ENV_CONFIG_PATH,
    ENV_TOPIC_PREFIX,
    SECRET_FILE_SUFFIX,
    HeraldConfig,
    ReceiverEntry,
    _is_secret,  # the loader's own test of which settings have a ``_file`` form
)
from schemas.matchers import Matcher

DOC = Path(__file__).parents[1] / "docs" / "configuration.md"
COMMAND = "python -m herald.config_reference"
COMMON_RECEIVER_KEYS = frozenset(ReceiverEntry.model_fields)
"""Keys every receiver entry has, documented once under ``receivers[]``."""

MINIMAL_EXAMPLE = """\
kafka:
  bootstrap_servers: 127.0.0.1:19092
producer:
  cluster: prod-eu-1                  # this cluster's id, carried by every event
receivers:
  - name: team-chat
    type: wecom
    url: ${WECOM_ROBOT_URL}           # a secret: from the environment (or url_file)
  - name: console
    type: console
"""
"""Every process can start with this file (the unit tests load it)."""


@dataclass(frozen=True)
class Row:
    """One key of the file, as the reference shows it."""

    path: str
    field: str
    """``Model.field``, where a missing description has to be added."""
    type: str
    default: str
    secret: str
    constraints: str
    description: str


@dataclass(frozen=True)
class Section:
    title: str
    intro: str
    rows: list[Row]


def sections() -> list[Section]:
    """The reference's tables: one per top-level key, and one per receiver type."""
    out: list[Section] = []
    for name, info in HeraldConfig.model_fields.items():
        key = info.alias or name
        if key == "receivers":
            out.extend(_receiver_sections(info))
            continue
        model = _nested_model(info.annotation)
        assert model is not None, f"top-level key {key} is not a section"
        intro = f"Optional section. {_describe(info)}" if info.default is None else _describe(info)
        out.append(Section(f"`{key}`", intro, list(_rows(model, key, (model,)))))
    return out


def _receiver_sections(info: FieldInfo) -> Iterator[Section]:
    yield Section(
        "`receivers[]`",
        _describe(info) + " Every entry has these keys; the rest depend on its `type`, each described below. "
        "`herald notifier --receiver NAME` delivers to one of them.",
        [
            _row(ReceiverEntry, name, field, "receivers[].")
            for name, field in ReceiverEntry.model_fields.items()
        ],
    )
    models: dict[str, type[BaseModel]] = {kind: factory.config_model for kind, factory in REGISTRY.items()}
    models[KUBE_EVENTER] = KubeEventerEntry
    for kind in sorted(models):
        model = models[kind]
        rows = [
            row
            for row in _rows(model, "receivers[]", (model,))
            if row.path.removeprefix("receivers[].").split(".")[0].split("[")[0] not in COMMON_RECEIVER_KEYS
        ]
        intro = " ".join((model.__doc__ or "").split())
        if kind == KUBE_EVENTER:
            intro += " See [migration-from-kube-eventer.md](migration-from-kube-eventer.md) for the URIs."
        yield Section(f"`receivers[]` of `type: {kind}`", intro.strip(), rows)


def _rows(model: type[BaseModel], prefix: str, ancestors: tuple[type[BaseModel], ...]) -> Iterator[Row]:
    """The rows of ``model``'s keys under ``prefix``, nested sections included.

    A section that contains itself (a route's child routes) refers to where it was first shown.
    """
    for name, info in model.model_fields.items():
        row = _row(model, name, info, f"{prefix}.")
        nested = _nested_model(info.annotation)
        if nested is None:
            yield row
            continue
        child = f"{row.path}[]" if _is_collection(info.annotation) else row.path
        if nested in ancestors:
            shown = _first_path(prefix, ancestors, nested)
            yield Row(**{**row.__dict__, "type": f"{row.type} (keys as `{shown}`)"})
            continue
        yield row
        yield from _rows(nested, child, (*ancestors, nested))


def _first_path(prefix: str, ancestors: tuple[type[BaseModel], ...], model: type[BaseModel]) -> str:
    """The key path at which ``model``, an ancestor of ``prefix``, is documented."""
    parts = prefix.split(".")
    return ".".join(parts[: ancestors.index(model) + 1])


def _row(model: type[BaseModel], name: str, info: FieldInfo, prefix: str) -> Row:
    key = info.alias or name
    kind = _type_name(info.annotation)
    if model is ReceiverEntry and key == "type":
        kind = "one of " + ", ".join(f"`{t}`" for t in sorted([*REGISTRY, KUBE_EVENTER]))
    return Row(
        path=prefix + key,
        field=f"{model.__name__}.{name}",
        type=kind,
        default=_default(info),
        secret=_secret(key, info.annotation),
        constraints=", ".join([*_constraints(info.metadata), *_item_constraints(info.annotation)]),
        description=_describe(info),
    )


def _describe(info: FieldInfo) -> str:
    return " ".join((info.description or "").split())


def _secret(key: str, annotation: Any) -> str:
    if _is_secret(annotation):
        return f"yes; or `{key}{SECRET_FILE_SUFFIX}`"
    if _contains(annotation, SecretStr):
        return "yes (values)"
    return ""


def _contains(annotation: Any, wanted: type) -> bool:
    return annotation is wanted or any(_contains(arg, wanted) for arg in get_args(annotation))


def _is_collection(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_collection(arg) for arg in get_args(annotation) if arg is not type(None))
    return origin in (list, tuple, dict)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The section model a key holds (alone, optional or in a list); matchers are values, not sections."""
    if isinstance(annotation, type):
        is_section = issubclass(annotation, BaseModel) and annotation is not Matcher
        return annotation if is_section else None
    if get_origin(annotation) in (Union, types.UnionType, list, tuple):
        for arg in get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in args if arg is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in args)
    if origin in (list, tuple):
        item = _type_name(args[0])
        return "list of mappings" if item == "mapping" else f"list of {item}"
    if origin is dict:
        keys = args[0]
        shown = (
            ", ".join(f"`{k}`" for k in get_args(keys)) if get_origin(keys) is Literal else _type_name(keys)
        )
        return f"map of {shown} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    if annotation is Matcher:
        return "matcher (`name=value`, `!=`, `=~`, `!~`)"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    simple = {
        str: "string",
        SecretStr: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        Path: "path",
    }
    return simple.get(annotation, str(annotation))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    factory = info.default_factory
    if factory is None:
        value = info.default
    elif factory in (list, dict, tuple) or getattr(factory, "__name__", "") == "<lambda>":
        value = factory()  # type: ignore[call-arg]
    else:  # computed where the process runs, e.g. the host name
        return f"computed: `{factory.__qualname__}()`"
    return f"`{json.dumps(_plain(value), ensure_ascii=False)}`"


def _plain(value: Any) -> Any:
    """``value`` as it would be written in the file."""
    if isinstance(value, Matcher):
        return f"{value.name}{value.op.value}{value.value}"
    if isinstance(value, BaseModel):
        return {
            info.alias or name: _plain(getattr(value, name))
            for name, info in type(value).model_fields.items()
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _constraints(metadata: list[Any], *, each: bool = False) -> Iterator[str]:
    """Bounds, lengths and patterns, from the field's metadata and its items' ``Annotated`` types."""
    item = "each " if each else ""
    for meta in metadata:
        for attr, shown in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                yield f"{item}{shown} {getattr(meta, attr)}"
        if getattr(meta, "min_length", None) is not None:
            yield f"{item}length ≥ {meta.min_length}"
        if getattr(meta, "max_length", None) is not None:
            yield f"{item}length ≤ {meta.max_length}"
        if getattr(meta, "pattern", None):
            yield f"{item}matches `{meta.pattern}`"
        if getattr(meta, "path_type", None) == "file":  # pydantic's FilePath
            yield f"{item}an existing file"


def _item_constraints(annotation: Any, *, each: bool = False) -> Iterator[str]:
    """Constraints of ``Annotated`` types inside ``annotation``: of each item, in a list."""
    each = each or get_origin(annotation) in (list, tuple, dict)
    for arg in get_args(annotation):
        if get_origin(arg) is Annotated:
            yield from _constraints(list(get_args(arg)[1:]), each=each)
        else:
            yield from _item_constraints(arg, each=each)


def render() -> str:
    """The whole of docs/configuration.md: the prose, then a table of keys for each section."""
    out = [
        *_introduction(),
        *_environment_variables(),
        *_secret_files(),
        "## Keys",
        "",
        "`[]` in a path is an item of a list. Defaults are shown as JSON, which is also YAML.",
    ]
    for section in sections():
        out += _section_lines(section)
    return "\n".join(out) + "\n"


def _introduction() -> list[str]:
    """What the file is, how it is checked, and the smallest one that works."""
    return [
        "# Configuration reference",
        "",
        f"<!-- Generated by `{COMMAND}` from the models in runtime/config/ and",
        "notifiers/receivers/: edit their Field descriptions, not this file. -->",
        "",
        f"Every process reads one YAML file: `herald -c herald.yaml COMMAND`, or `${ENV_CONFIG_PATH}`",
        "when `-c` is not given (without either, the defaults below). Unknown keys are errors, since",
        "a typo is the usual cause (the error names the closest known key); every error names the",
        "file, the line and the key path. `herald -c herald.yaml check-config` validates the whole",
        "file, every receiver and route included, reports every error in one run, and prints the",
        "effective configuration with defaults filled in and secrets masked.",
        "The variables templates can use are in [templates.md](templates.md).",
        "",
        "## A minimal configuration",
        "",
        "```yaml",
        MINIMAL_EXAMPLE.rstrip("\n"),
        "```",
        "",
    ]


def _environment_variables() -> list[str]:
    """How ``${NAME}`` is expanded, and why an unset secret stops only its own notifier."""
    return [
        "## Environment variables",
        "",
        "- `${NAME}` in any value (not in keys) is replaced by the environment variable `NAME`;",
        "  `${NAME:-default}` by `default` when `NAME` is unset (`${NAME:-}`: the empty string).",
        "  The replacement happens before validation, so `port: ${SMTP_PORT}` is checked as a number.",
        "- An unset variable without a default is an error naming the key, reported with every other",
        "  mistake in the file; `check-config` reports them all, in receivers too.",
        "- In a receiver's settings, an unset variable matters only where that receiver delivers:",
        "  every process reads the whole file, so the others (producer, processor, `topics`,",
        "  `silence`, `tail`, `render`) load it with a placeholder standing for the value (`render`",
        "  notes it on stderr and renders with it), while `herald notifier --receiver NAME` stops",
        "  with an error naming each unset variable of its own receiver. So write a receiver's secret",
        "  `${VAR}` and set `VAR` only for its notifier; `${VAR:-}` is not needed.",
        f"- `{ENV_BOOTSTRAP}` and `{ENV_TOPIC_PREFIX}` override `kafka.bootstrap_servers` and",
        "  `kafka.topic_prefix` for every process (tests, CI, compose).",
        "",
    ]


def _secret_files() -> list[str]:
    """The ``NAME_file`` form of secret settings, for mounted Kubernetes Secrets."""
    return [
        "## Secrets and `*_file`",
        "",
        "Settings marked secret are never logged, are masked by `check-config` and redacted from",
        "dead letters. Give them through `${ENV}` or from a file: a secret setting `NAME` can be",
        f"written `NAME{SECRET_FILE_SUFFIX}: PATH` instead (for example a mounted Kubernetes Secret).",
        "",
        "- The file is read when its section is validated, with trailing newlines stripped.",
        "- A relative `PATH` is relative to the directory of the configuration file.",
        f"- Giving both `NAME` and `NAME{SECRET_FILE_SUFFIX}`, or a file that is missing, unreadable,",
        "  not UTF-8 or empty, is an error naming the key and the path, never the content.",
        f"- Only the settings marked `yes; or NAME{SECRET_FILE_SUFFIX}` below have the file form: a key",
        "  that merely ends in `_file`, like the email receiver's `ca_file`, keeps its meaning.",
        "  The values of a webhook's `headers` are secrets too, but have no file form.",
        "",
    ]


def _section_lines(section: Section) -> list[str]:
    """One section of the keys: its title and intro, then its table (or why there is none)."""
    out = ["", f"### {section.title}", ""]
    if section.intro:
        out += [section.intro, ""]
    if not section.rows:
        out.append("No keys besides `name` and `type`.")
        return out
    out += ["| key | type | default | secret | constraints | description |", "|---|---|---|---|---|---|"]
    out += [
        "| "
        + " | ".join(
            _cell(text)
            for text in (
                f"`{row.path}`",
                row.type,
                row.default,
                row.secret,
                row.constraints,
                row.description,
            )
        )
        + " |"
        for row in section.rows
    ]
    return out


def _cell(text: str) -> str:
    """A table cell: a pipe would end it (GitHub lets one be escaped even in code), and outside
    code ``<name>`` would be taken for an HTML tag and vanish."""
    parts = text.replace("|", "\\|").split("`")
    return "`".join(part if i % 2 else part.replace("<", "&lt;") for i, part in enumerate(parts)) or " "


def undocumented() -> list[str]:
    """``Model.field`` of every key that has no description, top-level sections included."""
    top = [f"HeraldConfig.{name}" for name, info in HeraldConfig.model_fields.items() if not info.description]
    rows = [row.field for section in sections() for row in section.rows if not row.description]
    return [*top, *dict.fromkeys(rows)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/configuration.md is out of date")
    args = parser.parse_args(argv)
    status = 0
    missing = undocumented()
    if missing:
        print(
            "fields without a description (add Field(description=...)): " + ", ".join(missing),
            file=sys.stderr,
        )
        status = 1
    text = render()
    if not args.check:
        DOC.write_text(text, encoding="utf-8")
    elif not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
        print(f"docs/{DOC.name} is out of date; run {COMMAND}", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
