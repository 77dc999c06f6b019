"""Write (or check) docs/templates.md, the reference of what every template can use.

The reference is generated from the model of the template variables in
notifiers/templating.py (a unit test holds it to what ``Renderer.context`` produces) and from
the receivers' settings models, so it cannot drift from them:
``python -m herald.template_reference`` rewrites it, ``--check`` fails when the committed
file differs. ``herald render --list-vars`` prints the same variables as a table.

The document is a list of :class:`Section`; a template language other than Jinja (a
receiver's kube-eventer Go template body, say) adds its own with :func:`mapping_section`.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from herald.config_reference import _cell  # one escaping rule for every generated table
from notifiers.kube_eventer_body import GO_VARIABLES
from notifiers.receivers import REGISTRY
from notifiers.sinks import KUBE_EVENTER
from notifiers.templating import (
    CONTEXT_VARIABLES,
    FILTERS,
    INCIDENT_KEYS,
    LABELS,
    LINK_VARIABLES,
    RECEIVER_VARIABLES,
    Variable,
    flatten,
)

DOC = Path(__file__).parents[1] / "docs" / "templates.md"
COMMAND = "python -m herald.template_reference"
INLINE_SHOWN = 40
"""A longer default (an inline template) is not shown in the table."""
DIFF_LINES = 40
"""How much of the difference ``--check`` shows."""

DIGEST_EXAMPLE = """\
{% if digest %}{{ incidents | length }} {{ t.digest }}{% endif %}
{% for incident in incidents %}
[{{ incident.state_label }}] {{ incident.severity_label }} {{ incident.headline }}
  {{ t.cluster }}{{ sep }}{{ incident.cluster }} · {{ incident.count_text }} · {{ incident.last_seen_text }}
{% if incident.latest %}
  {{ incident.latest.reason }} {{ incident.latest.object }}{{ sep }}{{ incident.latest.message }}
{% endif %}
{% endfor %}
"""
"""A body that shows every incident of a digest (`check-config` renders it without complaint)."""


@dataclass(frozen=True)
class Section:
    """One table of the reference."""

    title: str
    intro: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]


def mapping_section(title: str, intro: str, variables: Mapping[str, str]) -> Section:
    """A section of names and descriptions only: for a template language documented by a
    plain mapping, e.g. the kube-eventer Go template variables (``.InvolvedObject.Name``)."""
    return Section(title, intro, ("name", "description"), [(f"`{k}`", v) for k, v in variables.items()])


def _rows(variables: tuple[Variable, ...], prefix: str = "") -> list[tuple[str, ...]]:
    return [
        (f"`{path}`", variable.type, variable.description) for path, variable in flatten(variables, prefix)
    ]


def template_settings() -> Iterator[tuple[str, ...]]:
    """Every receiver setting that names a template, with its packaged default."""
    for kind in sorted(REGISTRY):
        for name, info in REGISTRY[kind].config_model.model_fields.items():
            if not name.endswith("template"):
                continue
            default = str(info.default)
            shown = f"`{default}`" if len(default) < INLINE_SHOWN else "an inline template"
            yield f"`{kind}`", f"`{info.alias or name}`", shown, " ".join((info.description or "").split())


def sections() -> list[Section]:
    """The reference's tables, in the order the document shows them."""
    return [*_context_sections(), *_added_sections(), *_receiver_template_sections()]


def _context_sections() -> list[Section]:
    """What every template sees: its variables, an incident's keys and the words of ``t``."""
    words: list[tuple[str, ...]] = [(f"`t.{key}`", en, LABELS["zh"][key]) for key, en in LABELS["en"].items()]
    return [
        Section(
            "Every template",
            "What every template a receiver renders sees. The keys of `incident` (and of each of "
            "`incidents`) and of `t` are in the next sections.",
            ("name", "type", "description"),
            [(f"`{v.name}`", v.type, v.description) for v in CONTEXT_VARIABLES],
        ),
        Section(
            "Each incident: `incident`, and each of `incidents`",
            "The incident update as the processor emitted it (schemas/incident.py, as JSON: its "
            "times are ISO 8601 strings), then what the renderer works out for a reader, in the "
            "receiver's language and time zone. A key that may be empty is `none` then: test it "
            "(`{% if incident.namespace %}`) before printing it.",
            ("name", "type", "description"),
            _rows(INCIDENT_KEYS, "incident."),
        ),
        Section(
            "`t`: the words of the default templates",
            "In the receiver's language (`receivers[].language`, else `notifier.language`).",
            ("name", "en", "zh"),
            words,
        ),
    ]


def _added_sections() -> list[Section]:
    """Names only some templates see, and the filters: they add to the context of every template."""
    return [
        Section(
            "What some receivers add",
            "Beside the variables above, some receivers pass their templates these.",
            ("name", "type", "receivers", "description"),
            [
                (f"`{v.name}`", v.type, ", ".join(f"`{r}`" for r in v.receivers), v.description)
                for v in RECEIVER_VARIABLES
            ],
        ),
        Section(
            "`notifier.link_template`",
            "The link shown with each incident is rendered once per incident, with this only.",
            ("name", "type", "description"),
            [(f"`{v.name}`", v.type, v.description) for v in LINK_VARIABLES],
        ),
        Section(
            "Filters",
            "Beside Jinja's built-in filters (`truncate`, `join`, `length`, `urlencode`, `default`…; "
            "see https://jinja.palletsprojects.com/en/stable/templates/#builtin-filters).",
            ("filter", "type", "description"),
            [(f"`{v.name}`", v.type, v.description) for v in FILTERS],
        ),
    ]


def _receiver_template_sections() -> list[Section]:
    """Which template each receiver setting names, and the Go templates a kube-eventer body uses."""
    return [
        Section(
            "Which templates each receiver renders",
            "Each setting names a template file: yours in `notifier.templates_dir` if it has one of "
            f"that name, else the packaged one (notifiers/templates/). A `{KUBE_EVENTER}` receiver "
            "renders the templates of its sink's type.",
            ("type", "key", "default", "description"),
            list(template_settings()),
        ),
        mapping_section(
            "kube-eventer Go templates (`custom_body`)",
            "A `wecom` or `webhook` receiver's `custom_body` (or a kube-eventer sink's "
            "`custom_body_configmap`) is a Go text/template of the JSON body, as kube-eventer executed "
            "it against each Event. kube-herald executes it once per incident update against an "
            "Event-shaped value: the incident's latest occurrence, its count, and its times in the "
            "receiver's zone. A value printed inside a JSON string is escaped for it. Go's built-in "
            "functions (`printf`, `eq`, `index`, `len`…) and a time's `.Format` work as in Go.",
            GO_VARIABLES,
        ),
    ]


def render(tables: Sequence[Section]) -> str:
    """The whole of docs/templates.md."""
    out = [
        "# Template reference",
        "",
        f"<!-- Generated by `{COMMAND}` from the model in notifiers/templating.py",
        "and the receivers' settings: edit those, not this file. -->",
        "",
        "Receivers write their messages with Jinja2 templates, in English or Chinese",
        "(`receivers[].language`) and in the receiver's time zone. Every receiver has packaged",
        "templates; a file of the same name in `notifier.templates_dir` overrides the packaged one,",
        "so start from a copy of it (notifiers/templates/). Settings of each key are in",
        "[configuration.md](configuration.md).",
        "",
        "- Templates run in Jinja's sandbox, and every value a template prints is escaped for the",
        "  receiver's markup, so an Event's text cannot add a mention, a link or a heading. Build a",
        "  JSON body with `tojson`, never by pasting strings together.",
        "- A name or key that does not exist is an error, not an empty string: `incident.object_kind`",
        "  fails (the Events' object kind is `incident.labels.object_kind`).",
        "- A receiver with `rate_limits` merges incidents that come faster than its limit into one",
        "  digest message: `digest` is true and `incidents` holds them all. `incident` is only the",
        "  first, so a template must loop over `incidents`; `check-config` rejects one that reads",
        "  `incident` or `incidents[0]` and never `incidents` as a whole.",
        "- `herald -c herald.yaml check-config` renders every receiver's templates (yours or the",
        "  packaged ones) against sample incidents, firing, resolved and a digest, in `en` and `zh`,",
        "  and reports a template that fails at its setting, with the template's line.",
        "  `herald -c herald.yaml render --receiver NAME` prints the message it would send, and",
        "  `herald render --list-vars` lists the variables below.",
        "",
        "A body that shows every incident of a digest:",
        "",
        "```jinja",
        DIGEST_EXAMPLE.rstrip("\n"),
        "```",
    ]
    for section in tables:
        out += ["", f"## {section.title}", ""]
        if section.intro:
            out += [section.intro, ""]
        out.append("| " + " | ".join(section.header) + " |")
        out.append("|" + "---|" * len(section.header))
        out += ["| " + " | ".join(_cell(text) for text in row) + " |" for row in section.rows]
    return "\n".join(out) + "\n"


def variable_table(width: int | None = None) -> str:
    """``herald render --list-vars``: every variable, key and filter as aligned columns."""
    width = width or max(80, shutil.get_terminal_size().columns)
    groups: list[tuple[str, list[tuple[str, str, str]]]] = [
        ("Every template", [(path, v.type, v.description) for path, v in flatten(CONTEXT_VARIABLES)]),
        (
            "Added by some receivers",
            [(v.name, v.type, f"({', '.join(v.receivers)}) {v.description}") for v in RECEIVER_VARIABLES],
        ),
        ("notifier.link_template", [(v.name, v.type, v.description) for v in LINK_VARIABLES]),
        ("Filters (beside Jinja's built-in ones)", [(v.name, v.type, v.description) for v in FILTERS]),
    ]
    rows = [row for _, group in groups for row in group]
    name_width = max(len(row[0]) for row in rows) + 2
    type_width = max(len(row[1]) for row in rows) + 2
    text_width = max(30, width - name_width - type_width - 2)
    out: list[str] = []
    for title, group in groups:
        out += ["", f"{title}:"] if out else [f"{title}:"]
        for name, kind, description in group:
            lines = textwrap.wrap(description.replace("`", ""), text_width, break_on_hyphens=False) or [""]
            out.append(f"  {name:<{name_width}}{kind:<{type_width}}{lines[0]}")
            out += [" " * (2 + name_width + type_width) + line for line in lines[1:]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/templates.md is out of date")
    args = parser.parse_args(argv)
    text = render(sections())
    if not args.check:
        DOC.write_text(text, encoding="utf-8")
        return 0
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if current == text:
        return 0
    diff = list(
        difflib.unified_diff(current.splitlines(), text.splitlines(), "committed", "generated", lineterm="")
    )
    print("\n".join(diff[:DIFF_LINES]), file=sys.stderr)
    if len(diff) > DIFF_LINES:
        print(f"... and {len(diff) - DIFF_LINES} more lines", file=sys.stderr)
    print(f"docs/{DOC.name} is out of date; run {COMMAND}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
