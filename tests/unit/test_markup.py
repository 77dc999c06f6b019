"""Property tests of the per-vendor neutralisation (notifiers/markup.py) and of the rendered
messages: whatever a tenant writes into an Event, no link, mention, tag (``<font>``, ``<at>``),
heading, quote, list or active emphasis comes out of it, and nothing is escaped with a
backslash or an entity the vendor would show as typed."""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifiers.markup import DIALECTS, LOOK_ALIKES, ZERO_WIDTH_SPACE, Markup, clean_text, plain
from notifiers.notification import Notification
from notifiers.templating import Renderer
from schemas import Incident, IncidentStatus, RelatedIncident, ResolvedBy, SampleMessage, Severity
from tests.unit.test_golden_messages import VARIANTS

INVISIBLE = ZERO_WIDTH_SPACE + "".join(LOOK_ALIKES.values())
FRAGMENTS = [
    "[x](http://evil.example)",
    "![i](https://evil.example/p.png)",
    "[ref]: https://evil.example",
    "][",
    "<@alice>",
    "<@all>",
    "@all",
    "@所有人",
    "@13800000000",
    "<at id=all></at>",
    '<at user_id="all">',
    "<AT ID = all>",
    "<!channel>",
    "<!here|here>",
    "<!subteam^S1>",
    '<font color="info">',
    "</font>",
    "<a href='https://evil.example'>",
    "<https://evil.example|click>",
    "<text_tag>",
    "# ",
    "###### ",
    "> ",
    ">> ",
    "- ",
    "* ",
    "+ ",
    "1. ",
    "2) ",
    "| a | b |",
    "|---|",
    ":--",
    "---",
    "===",
    "___",
    "**",
    "*",
    "__",
    "_",
    "~~",
    "~",
    "`",
    "```",
    "~~~",
    "\n",
    "\r\n",
    "\r",
    "\u2028",
    "\x85",
    " ",
    "    ",
    "\t",
    "\\",
    "\\_",
    "&lt;",
    "&amp;",
    "&",
    "http://",
    "https://evil.example/x",
    "lark://x",
    "tel:1",
    ":",
    "]",
    "[",
    "(",
    ")",
    "<",
    ">",
    "!",
    "x",
    "中文",
    "a_b",
    "oom_score_adj",
    "\u202e",
]
hostile = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(
            alphabet=st.characters(blacklist_characters=INVISIBLE, blacklist_categories=("Cs",)), max_size=3
        ),
    ),
    max_size=14,
).map("".join)

_SCHEME = re.compile(r"(?i:\b(?:https?|ftp|mailto|tel|dingtalk|lark|weixin):)")
"""A URL the clients would turn into a link by themselves."""
_LINK = re.compile(rf"\][ \t]*[(\[]|{_SCHEME.pattern}")
_TAG = re.compile(r"<[A-Za-z/!?@$]")
_LINE_START = re.compile(
    r"(?m)^[ \t]{0,3}(?:#{1,6}(?:[ \t]|$)|>|[-+*](?:[ \t]|$)|\d+[.)](?:[ \t]|$)|\|"
    r"|:?-{2,}[ \t:|]*(?:\||$)|=+[ \t]*$|_{3,}|```|~~~|\[[^\]]*\]:)"
)
_BOUNDARY_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_AT = re.compile(r"@(?=[\w.+-])")
"""A mention: ``@`` and a name or number (``@all``, ``@13800000000``, ``@所有人``)."""
_RESTORE = str.maketrans({ZERO_WIDTH_SPACE: "", **{v: k for k, v in LOOK_ALIKES.items()}})
CHAT: list[Markup] = ["wecom", "wecom_v2", "dingtalk", "feishu", "teams", "slack", "markdown"]


def active(text: str, markup: Markup) -> list[str]:
    """The constructs ``text`` would form in the vendor's markup (an empty list: none)."""
    dialect = DIALECTS[markup]
    found = [m.group() for m in _LINK.finditer(text)]
    if dialect.entities:
        found += [c for c in text if c in "<>"]
    else:
        found += [m.group() for m in _TAG.finditer(text)]
    found += [m.group() for m in _LINE_START.finditer(text)]
    found += [c for c in text if c in dialect.delimiters]
    if dialect.boundary_underscore:
        found += [m.group() for m in _BOUNDARY_UNDERSCORE.finditer(text)]
    if dialect.at_mentions:
        found += [m.group() for m in _AT.finditer(text)]
    return found


@pytest.mark.parametrize("markup", CHAT)
@given(text=hostile)
@settings(max_examples=200, deadline=None)
def test_no_text_forms_a_construct_at_a_line_start_or_inside_one(markup: Markup, text: str) -> None:
    out = DIALECTS[markup].neutralise(text)
    assert active(out, markup) == []
    assert active("label: " + out, markup) == []
    if DIALECTS[markup].fold_lines:
        assert "\n" not in out


@pytest.mark.parametrize("markup", CHAT)
@given(text=hostile)
@settings(max_examples=200, deadline=None)
def test_nothing_is_escaped_only_broken_invisibly(markup: Markup, text: str) -> None:
    """Take the zero-width spaces out and the look-alikes back and the text is as written: no
    backslash and no entity was added (Slack's three entities aside, which Slack decodes)."""
    dialect = DIALECTS[markup]
    expected = clean_text(text)
    if dialect.fold_lines:
        expected = expected.replace("\n", " ")
    shown = dialect.neutralise(text).translate(_RESTORE)
    if dialect.entities:
        assert "&" not in re.sub(r"&(?:amp|lt|gt);", "", shown)
        shown = html.unescape(shown)
    assert shown == expected


@given(text=hostile)
@settings(max_examples=200, deadline=None)
def test_plain_text_has_no_tag_mention_link_or_line_of_its_own(text: str) -> None:
    out = plain(text)
    assert not _TAG.search(out)
    assert not _AT.search(out)
    assert not _SCHEME.search(out)  # brackets mean nothing in a text message; bare URLs do
    assert "\n" not in out
    assert out.translate(_RESTORE) == clean_text(text).replace("\n", " ")


def test_what_the_issue_saw_reads_as_written() -> None:
    """WeCom and DingTalk showed these with backslashes and entities: now they read as typed."""
    for markup in ("wecom", "dingtalk", "feishu"):
        escape = DIALECTS[markup].neutralise
        assert escape("oom_score_adj") == "oom_score_adj"
        assert escape("search-0_search") == "search-0_search"
        assert escape("1.5 cores, a - b, (x) #3 > 2") == "1.5 cores, a - b, (x) #3 > 2"
        assert escape("[click here]").replace(ZERO_WIDTH_SPACE, "") == "[click here]"  # invisibly guarded
        assert "&lt;" not in escape('<a href="x">') and "\\" not in escape("**x** [a](b)")  # noqa: PT018


# Whole messages ----------------------------------------------------------------------------

AT = datetime(2026, 12, 6, 0, 12, 7, tzinfo=UTC)
SAFE = "x"
MARKUPS: dict[str, Markup] = {
    "wecom.markdown": "wecom",
    "wecom.markdown_v2": "wecom_v2",
    "wecom_app.markdown": "wecom",
    "dingtalk.markdown": "dingtalk",
    "feishu.card": "feishu",
    "slack": "slack",
    "teams": "teams",
}
TEXT_VARIANTS = ["wecom.text", "wecom_app.text", "dingtalk.text", "feishu.text"]


def incident(value: str, *, n: int = 1, status: IncidentStatus = IncidentStatus.FIRING) -> Incident:
    """Every field an Event (or a tenant's names) can fill, set to ``value``."""
    sample = SampleMessage(reason=value, message=value, object=value, at=AT)
    return Incident(
        fingerprint=f"{n:016x}",
        version=2,
        status=status,
        severity=Severity.CRITICAL,
        category=value or SAFE,
        title=value,
        cluster=value,
        namespace=value,
        workload=value,
        labels={"kind": value, "reason": value, "node": value},
        occurrences=3,
        first_seen=AT - timedelta(minutes=5),
        last_seen=AT,
        objects=[value, value],
        objects_total=5,
        samples=[sample, sample.model_copy(update={"at": AT - timedelta(minutes=1)})],
        inhibited_by=value,
        emitted_at=AT,
        node=value,
        related=[RelatedIncident(fingerprint="ab" * 8, category=value, reason=value, node=value, at=AT)],
        workloads=[value, value],
        resolved_by=ResolvedBy.RECOVERY if status is IncidentStatus.RESOLVED else None,
        recovery=sample if status is IncidentStatus.RESOLVED else None,
    )


def notifications(value: str) -> list[Notification]:
    return [
        Notification((incident(value),)),
        Notification((incident(value), incident(value, n=2, status=IncidentStatus.RESOLVED))),
    ]


def strings(payload: str) -> list[tuple[str, bool]]:
    """Every text of a JSON payload, and whether the vendor shows it as plain text (a
    ``plain_text`` object, a DingTalk title) rather than parsing its markup."""
    found: list[tuple[str, bool]] = []

    def collect(value: Any, plain: bool) -> None:
        if isinstance(value, str):
            found.append((value, plain))
        elif isinstance(value, dict):
            plain_object = plain or "plain_text" in (value.get("type"), value.get("tag"))
            for key, item in value.items():
                if key not in {"url", "msgtype", "msg_type", "tag", "type", "contentType", "$schema"}:
                    collect(item, plain_object or key == "title")
        elif isinstance(value, list):
            for item in value:
                collect(item, plain)

    collect(orjson.loads(payload), False)
    return found


def plain_constructs(text: str) -> list[str]:
    """What text shown as is can still do: mention (tags, ``@``) and link (bare URLs)."""
    found = [m.group() for m in _TAG.finditer(text)] + [m.group() for m in _AT.finditer(text)]
    return found + [m.group() for m in _SCHEME.finditer(text)]


def constructs(variant: str, value: str) -> Counter[str]:
    markup = MARKUPS.get(variant, "markdown")
    receiver = VARIANTS[variant](Renderer(language="en"))
    found: list[str] = []
    for notification in notifications(value):
        for text, shown_as_is in strings(receiver.preview(notification)):
            if variant in TEXT_VARIANTS or shown_as_is:
                found += plain_constructs(text)
            else:
                found += active(text, markup)
    return Counter(found)


@pytest.mark.parametrize("variant", [*MARKUPS, *TEXT_VARIANTS])
@given(value=hostile.filter(lambda v: v.strip() != ""))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_event_text_in_every_field_adds_no_construct_to_any_message(variant: str, value: str) -> None:
    """The message built from hostile fields has no construct beyond those (our headings, bold,
    colours, quotes, list items) of the same message with every field plain ``x`` (fewer when
    a long value makes the message cut at the vendor's limit)."""
    assert constructs(variant, value) - constructs(variant, SAFE) == Counter()
