"""Making untrusted event text harmless in each vendor's markup, and fitting it in a byte limit.

Any tenant can create an Event with any message, so every value a template interpolates
is neutralised for the receiver's markup (see ``Renderer``): a crafted message must not add
a mention, a link, a ``<font>`` or a heading, nor formatting that hides the rest of the
alert. Only values wrapped in :class:`Trusted` (built by us from configuration) pass as is.

The chat robots interpret neither backslash escapes nor HTML entities (WeCom and DingTalk
show ``oom\\_score\\_adj`` and ``&lt;a href`` literally), so nothing is escaped there: each
construct that is *active* in the vendor's documented subset is broken with a character
the reader does not notice. A zero-width space (U+200B) goes inside a structure (``]`` and
``(`` of a link, ``<`` and ``font`` of a tag, a line-start marker, ``scheme`` and ``:``),
and a delimiter of inline formatting is replaced by its look-alike (``*`` U+2217 ∗, `` ` ``
U+02CB ˋ, ``~`` U+223C ∼, ``_`` U+FF3F ＿). Values are folded onto one line, so they never
start a line of their own; one printed at a line start gets a zero-width space in front
when it begins like a block marker. Constructs that are not active are left alone:
``oom_score_adj``, ``search-0_search`` and ``1.5`` read as they are.

What is active, per vendor (documentation and the clients that talk to these APIs):

=============  =========================================================  ==========================
dialect        active in the vendor's markup                              neutralised here
=============  =========================================================  ==========================
``wecom``      WeCom robot/app ``markdown``: ``#`` headings, ``**bold**``,  links, tags, line starts;
               ``*italic*``, ``[text](url)``, `` `code` ``, ``>`` quote,    ``*`` and `` ` `` by
               ``<font color>``, ``<@userid>`` mentions, bare URLs        look-alikes
``wecom_v2``   WeCom robot ``markdown_v2``: the above without ``<font>``    as ``wecom`` (tags too:
               and ``<@userid>``, plus lists, nested quotes, images,       HTML is unconfirmed and
               ``---``, tables, fenced code                               the break is invisible)
``dingtalk``   DingTalk ``markdown``: headings, ``>``, ``**``, ``*``, links,  links, tags, line starts,
               images, ``-``/``1.`` lists, ``<font color>`` (undocumented  ``*`` look-alike, ``@`` +
               but rendered), ``@mobile`` highlighted when in ``at``      zero-width space
``feishu``     Feishu/Lark card ``lark_md``: ``**``, ``*``, ``~~``, links,    links, tags, line starts,
               ``<at id>``, ``<font color>``, ``<a href>``, ``<text_tag>``  ``*`` and ``~`` look-alikes
``teams``      Adaptive Card TextBlock: ``**``, ``*``/``_`` italic,         links, tags, line starts,
               ``-``/``*``/``1.`` lists, ``[text](url)``; mentions only    ``*``, ``~``, `` ` `` and
               with an ``msteams`` entity; ``~~`` and `` ` `` in Teams     word-boundary ``_`` by
               clients (unconfirmed for cards, neutralised anyway)        look-alikes
``slack``      Slack mrkdwn: ``&``, ``<``, ``>`` are its only control        the three entities (which
               characters and must be sent as entities (``<!here>``,       Slack documents and
               ``<@U…>``, ``<url|text>``); ``*bold*``, ``_italic_``,         decodes); ``*``, ``~``,
               ``~strike~``, `` `code` ``, ``>`` quote at a line start      `` ` `` and boundary ``_``
                                                                          look-alikes
``plain``      text messages and titles: URLs auto-linked by the clients,  tags, ``@``, schemes,
               Feishu ``<at user_id>``, WeCom application ``<a href>``    ``](`` (all invisibly)
``html``       e-mail: HTML                                               entities (HTML decodes them)
=============  =========================================================  ==========================

``markdown`` is the union of the chat dialects, for templates that do not know their vendor.
Not active, so left alone: ``_`` in WeCom, DingTalk and Feishu, ``~`` in WeCom and DingTalk,
and an ``_`` between two letters or digits anywhere (no flavour makes ``a_b_c`` italic).

Sources: WeCom's robot and message docs (developer.work.weixin.qq.com/document/path/91770,
90236), DingTalk's message types (open.dingtalk.com/document/orgapp/robot-message-types),
Feishu's card markdown (open.feishu.cn, "富文本 Markdown"), Slack's "Formatting text for app
surfaces" (api.slack.com/reference/surfaces/formatting) and Adaptive Cards' "Text features"
(learn.microsoft.com/adaptive-cards). tests/unit/test_markup.py checks every dialect with
hypothesis against the constructs above.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Literal

import orjson

ZERO_WIDTH_SPACE = "\u200b"
TRUNCATION_MARKER = "…[truncated]"

Markup = Literal[
    "none", "plain", "markdown", "wecom", "wecom_v2", "dingtalk", "feishu", "teams", "slack", "html"
]

LOOK_ALIKES: dict[str, str] = {"*": "\u2217", "`": "\u02cb", "~": "\u223c", "_": "\uff3f"}
"""Delimiters of inline formatting, and what stands in for them where they are active."""


class Trusted(str):
    """Text from our own configuration or markup (a link, a mention): never escaped."""

    __slots__ = ()


_MENTION = re.compile(r"@(?=\S)")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x85\x0b\x0c]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
"""C0 controls and the bidirectional overrides that could make text read backwards."""
_URL_SCHEME = re.compile(r"(?i)\b(https?|ftp|mailto|tel|dingtalk|lark|weixin)(:)")
_TAG = re.compile(r"<(?=[A-Za-z/!?@$])")
"""A tag or a tag-like mention: ``<font``, ``</font``, ``<at``, ``<a href``, ``<@userid>``, ``<!here>``."""
_LINK = re.compile(r"\](?=[ \t]*(?:[(\[]|$))")
"""The ``](`` of ``[text](url)`` / ``![alt](img)``, the ``][`` of a reference link, and a ``]``
that ends a value (the template's next character might be a ``(``)."""
_LEADING_LINK_TAIL = re.compile(r"^(?=[ \t]*\()")
"""A value that starts with ``(``: after a ``]`` of the template's, it would make a link."""
_BLOCK_START = re.compile(r"(?m)^(?=[\s#>|:`~\[!<&=]|[-+*](?:\s|$)|-{2,}|\*{2,}|_{2,}|\d+[.)](?:\s|$))")
"""A line that would start a heading, quote, list, rule, table, fence or reference definition."""
_BOUNDARY_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
"""An ``_`` that could open or close emphasis: one not between two letters or digits."""


def defuse_mentions(text: str) -> str:
    """``@all`` becomes ``@\u200ball``: it reads the same, and no robot resolves it to a mention."""
    return _MENTION.sub("@" + ZERO_WIDTH_SPACE, text)


def defuse_urls(text: str) -> str:
    """Break auto-linking of ``scheme:`` so a message cannot smuggle in a clickable link."""
    return _URL_SCHEME.sub(r"\1" + ZERO_WIDTH_SPACE + r"\2", text)


def defuse_tags(text: str) -> str:
    """``<font``, ``<at``, ``<a href``, ``<@userid>`` become ``<\u200bfont``…: no parser sees a tag."""
    return _TAG.sub("<" + ZERO_WIDTH_SPACE, text)


def clean_text(text: str) -> str:
    """Drop control characters (they break some vendors' parsers); keep newlines as they are."""
    return _CONTROL.sub("", _LINE_BREAKS.sub("\n", text))


@dataclass(frozen=True, slots=True)
class Dialect:
    """What untrusted text must not form in one vendor's markup (see the module's table)."""

    delimiters: str
    """Inline formatting delimiters active here, replaced by their look-alikes."""
    boundary_underscore: bool = False
    """``_`` emphasis is active (at word boundaries only, as in CommonMark and Slack)."""
    at_mentions: bool = False
    """``@name`` in the text itself is highlighted (DingTalk, with the payload's ``at``)."""
    entities: bool = False
    """``&``, ``<`` and ``>`` are sent as entities, which the vendor decodes (Slack)."""
    fold_lines: bool = True
    """Line breaks become spaces, so a value never starts a line of its own."""
    table: Mapping[int, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", str.maketrans({c: LOOK_ALIKES[c] for c in self.delimiters}))

    def neutralise(self, text: str) -> str:
        text = clean_text(text)
        if self.fold_lines:
            text = text.replace("\n", " ")
        if self.entities:
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        else:
            text = defuse_tags(text)
        text = text.translate(self.table)
        if self.boundary_underscore:
            text = _BOUNDARY_UNDERSCORE.sub(LOOK_ALIKES["_"], text)
        text = _LEADING_LINK_TAIL.sub(ZERO_WIDTH_SPACE, _LINK.sub("]" + ZERO_WIDTH_SPACE, text))
        text = defuse_urls(text)
        if self.at_mentions:
            text = defuse_mentions(text)
        return _BLOCK_START.sub(ZERO_WIDTH_SPACE, text)


DIALECTS: dict[Markup, Dialect] = {
    "wecom": Dialect("*`"),
    "wecom_v2": Dialect("*`"),
    "dingtalk": Dialect("*", at_mentions=True),
    "feishu": Dialect("*~"),
    "teams": Dialect("*~`", boundary_underscore=True),
    "slack": Dialect("*~`", boundary_underscore=True, at_mentions=True, entities=True, fold_lines=False),
    "markdown": Dialect("*~`", boundary_underscore=True, at_mentions=True),
}


def plain(text: str) -> str:
    """Text messages and titles: no mentions, no tags (Feishu ``<at>``, WeCom app ``<a href>``),
    no clickable links, no control characters, and one line, so a value cannot forge lines of
    the message (``[RECOVERED] …``) of its own."""
    text = defuse_tags(" ".join(clean_text(text).split("\n")))
    # Brackets mean nothing in a text message, but a title (DingTalk's, Feishu's header) may be
    # shown by a client that does parse them: an invisible break costs nothing.
    unlinked = _LEADING_LINK_TAIL.sub(ZERO_WIDTH_SPACE, _LINK.sub("]" + ZERO_WIDTH_SPACE, text))
    return defuse_urls(defuse_mentions(unlinked))


def markdown(text: str) -> str:
    """The union of the chat dialects: safe wherever the vendor is not known."""
    return DIALECTS["markdown"].neutralise(text)


def slack(text: str) -> str:
    """Slack mrkdwn (see the module's table)."""
    return DIALECTS["slack"].neutralise(text)


def html(text: str) -> str:
    """HTML (email): the usual entity escaping, including quotes for attribute context."""
    return (
        clean_text(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


ESCAPERS: dict[Markup, Callable[[str], str]] = {
    "none": lambda text: text,
    "plain": plain,
    "html": html,
    **{name: dialect.neutralise for name, dialect in DIALECTS.items()},
}


def escape(value: object, markup: Markup) -> object:
    """Escape a rendered value unless it is not text or is :class:`Trusted`."""
    if isinstance(value, str) and not isinstance(value, Trusted):
        return ESCAPERS[markup](value)
    return value


def truncate_utf8(text: str, limit: int, marker: str = TRUNCATION_MARKER) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes at a character boundary, ending with ``marker``.

    Text that already fits is returned unchanged.
    """
    encoded = text.encode(errors="replace")
    if len(encoded) <= limit:
        return text
    room = limit - len(marker.encode())
    if room < 0:
        raise ValueError(f"a limit of {limit} bytes cannot hold the truncation marker")
    return encoded[:room].decode(errors="ignore") + marker


def utf8_size(text: str) -> int:
    return len(text.encode(errors="replace"))


def json_size(text: str) -> int:
    """Bytes ``text`` takes inside a JSON body: escapes included, the quotes not."""
    return len(orjson.dumps(text)) - 2


def truncate_json_text(text: str, room: int) -> str:
    """Cut ``text`` so that, with the truncation marker, its JSON encoding takes at most ``room``
    bytes: escapes make it larger than its UTF-8 (a quote or backslash takes two bytes)."""
    if json_size(text) <= room:
        return text
    # No character encodes to fewer JSON bytes than UTF-8 bytes: the cut lies in this head.
    head = truncate_utf8(text, room, marker="")
    ends = list(accumulate(json_size(char) for char in head))
    return head[: bisect_right(ends, room - json_size(TRUNCATION_MARKER))] + TRUNCATION_MARKER


class Clip:
    """Cuts texts to their limits with ``cut`` and remembers whether anything was lost, so a
    receiver can tell whether its message shows everything."""

    def __init__(self, cut: Callable[[str, int], str] = truncate_utf8) -> None:
        self._cut = cut
        self.lossless = True

    def __call__(self, text: str, limit: int) -> str:
        cut = self._cut(text, limit)
        self.lossless = self.lossless and cut == text
        return cut
