"""Making untrusted event text harmless in each target markup, and fitting it in a byte limit.

Any tenant can create an Event with any message, so every value a template interpolates
is escaped for the receiver's markup (see ``Renderer``): a crafted message must not add a
mention (``@all``, ``<@U…>``, ``<at>``), a link, or formatting that hides the rest of the
alert. Only values wrapped in :class:`Trusted` (built by us from configuration) pass as is.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate
from typing import Literal

import orjson

ZERO_WIDTH_SPACE = "\u200b"
TRUNCATION_MARKER = "…[truncated]"

Markup = Literal["none", "plain", "markdown", "slack", "html"]


class Trusted(str):
    """Text from our own configuration or markup (a link, a mention): never escaped."""

    __slots__ = ()


_MENTION = re.compile(r"@(?=\S)")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x85\x0b\x0c]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_BLOCK_START = re.compile(r"^(?=[#>+\-=]|\d+[.)])")
_URL_SCHEME = re.compile(r"(?i)\b(https?|ftp|mailto|tel|dingtalk|lark|weixin)(:)")


def defuse_mentions(text: str) -> str:
    """``@all`` becomes ``@\u200ball``: it reads the same, and no robot resolves it to a mention."""
    return _MENTION.sub("@" + ZERO_WIDTH_SPACE, text)


def defuse_urls(text: str) -> str:
    """Break auto-linking of ``scheme:`` so a message cannot smuggle in a clickable link."""
    return _URL_SCHEME.sub(r"\1" + ZERO_WIDTH_SPACE + r"\2", text)


def clean_text(text: str) -> str:
    """Drop control characters (they break some vendors' parsers); keep newlines as they are."""
    return _CONTROL.sub("", _LINE_BREAKS.sub("\n", text))


def plain(text: str) -> str:
    """Escaping for plain-text messages: no mentions, no clickable links, no control characters."""
    return defuse_urls(defuse_mentions(clean_text(text)))


def markdown(text: str) -> str:
    """CommonMark-style escaping (WeCom, DingTalk, Feishu lark_md, Teams): no links, no
    emphasis, no code, no tables, no HTML tags such as ``<at>`` or ``<font>``, no mentions.

    Newlines become spaces, so a message cannot start a heading or list line of its own;
    a value that could start one where a template prints it at a line start gets a
    zero-width space in front. ``-``, ``.``, ``#``, ``(`` and the like are left alone
    elsewhere: Kubernetes names are full of them, and a backslash before each would show
    on robots whose markdown does not honour escapes.
    """
    text = clean_text(text).replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    # Robots that ignore backslash escapes would still see "[x](url)": keep "](" apart.
    text = text.replace("](", "]" + ZERO_WIDTH_SPACE + "(")
    text = _BLOCK_START.sub(ZERO_WIDTH_SPACE, text)
    return defuse_urls(defuse_mentions(text))


def slack(text: str) -> str:
    """Slack mrkdwn: ``&``, ``<`` and ``>`` are the only control characters (``<!channel>``,
    ``<@U…>``, ``<url|text>``); emphasis characters are neutralized with zero-width spaces."""
    text = clean_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"([*_~`])", ZERO_WIDTH_SPACE + r"\1" + ZERO_WIDTH_SPACE, text)
    return defuse_urls(defuse_mentions(text))


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
    "markdown": markdown,
    "slack": slack,
    "html": html,
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
