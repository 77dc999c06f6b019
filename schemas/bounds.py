"""How large a field of a kube-herald message may be: size is a property of the data, not a fault.

Any tenant who may create an Event can make it as large as the API server accepts (about
1.5 MB), larger than a Kafka topic takes by default (about 1 MB). Every stage therefore
keeps what it writes within documented bounds: a string over its bound keeps its longest
prefix that fits, at a character boundary, followed by :data:`CUT_MARKER` naming the
original size, so a reader sees that and how much was cut.
"""

from __future__ import annotations

import re

MESSAGE_MAX_BYTES = 16 * 1024
"""An Event's ``message`` (``note``): kubelet's longest (a termination message) is 4 KiB, a
chat robot shows at most 4 KiB, and analytics keeps the first 16 KiB."""
STRING_MAX_BYTES = 4 * 1024
"""Any other string of an Event, map keys included (annotation values, managedFields entries)."""
CUT_MARKER = " […cut by kube-herald, {size} bytes in all]"
"""Appended to a cut string, with the original UTF-8 size."""
CUT_MARKER_PATTERN = re.compile(r" \[…cut by kube-herald, (\d+) bytes in all\]\Z")
_MARKER_RESERVE = len(CUT_MARKER.format(size=10**12).encode())


def utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8, without encoding it when its length already decides."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def cut_text(text: str, max_bytes: int) -> str:
    """``text`` itself if it fits in ``max_bytes`` of UTF-8, else its longest prefix that fits
    together with the marker (never splitting a character)."""
    if len(text) * 4 <= max_bytes or utf8_size(text) <= max_bytes:
        return text
    size = utf8_size(text)
    data = text.encode("utf-8", "surrogatepass")
    kept = data[: max(0, max_bytes - _MARKER_RESERVE)].decode("utf-8", "ignore")
    return kept + CUT_MARKER.format(size=size)


def original_size(text: str) -> int | None:
    """The size a cut string had before it was cut, or None if it was not cut."""
    found = CUT_MARKER_PATTERN.search(text)
    return int(found.group(1)) if found else None
