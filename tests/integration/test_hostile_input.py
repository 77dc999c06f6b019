"""Hostile input through the real processor: no crash, no silent drop.

Over ten thousand generated bad raw messages (random bytes, truncated and deeply nested
JSON, invalid UTF-8, huge fields, wrong types, missing fields, unknown schemas, valid
envelopes around malformed Events, ...) go through one real worker with a few hundred
valid ones among them. Every message is then accounted for by the partition and offset
it was written at: each bad one is on ``events.invalid`` exactly once with its reason and
its original bytes, each valid one on ``events.clean`` exactly once, and the worker is
still alive and still processing at the end.

The generator is seeded, so a failure names cases that can be rebuilt and replayed.
"""

from __future__ import annotations

import base64
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from schemas import CleanEvent, QuarantineRecord, decode
from schemas.quarantine import MAX_PAYLOAD_BYTES
from tests.support.events import k8s_event
from tests.support.kafka import Namespace, ensure_namespace_topics, read_topic
from tests.support.processes import herald_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SEED = 20_261_127
HUGE = 950_000
"""Size of the MB-scale cases: just under the broker's default ``message.max.bytes`` (~1 MiB),
the largest message the raw topic accepts at all."""
JSON_DEPTH_LIMIT = 1024
"""orjson's nesting limit: a document this deep parses, one level deeper does not."""

CLEAN = frozenset[str]()
"""Expected reasons of a message that must be processed: none."""
NOT_JSON = frozenset({"not-json"})
NOT_OBJECT = frozenset({"not-an-object"})
WRONG_SCHEMA = frozenset({"wrong-schema"})
BAD_VERSION = frozenset({"unsupported-version"})
INVALID = frozenset({"invalid"})
INVALID_EVENT = frozenset({"invalid-event"})

ENVELOPE_FIELDS = ("schema", "v", "cluster", "producer_id", "observed_at", "observation", "api", "event")
REQUIRED_FIELDS = ("schema", "v", "cluster", "producer_id", "observed_at", "observation", "event")


@dataclass(frozen=True)
class Case:
    """One raw message and its fate: clean (no reasons) or quarantined for one of ``reasons``."""

    kind: str
    key: bytes | None
    value: bytes | None
    reasons: frozenset[str]
    occurrence_id: str | None = None

    @property
    def bad(self) -> bool:
        return bool(self.reasons)


# --- the generator ---------------------------------------------------------------------------


def envelope(uid: str, **event_fields: Any) -> dict[str, Any]:
    """A valid raw envelope on the wire, its Event identified by ``uid``."""
    event = k8s_event(0, uid=uid, resource_version="1")
    event["involvedObject"]["uid"] = f"obj-{uid}"
    event.update(event_fields)
    return {
        "schema": "herald.raw-event",
        "v": 1,
        "cluster": "prod-a",
        "producer_id": "p1",
        "observed_at": "2026-11-27T08:00:06Z",
        "observation": "ADDED",
        "api": "v1",
        "event": event,
    }


def occurrence(uid: str) -> str:
    return f"prod-a/{uid}/1"


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def nested(depth: int, *, inner: str = "1", opener: str = "[", closer: str = "]") -> bytes:
    """``depth`` levels of nesting built as text: no serializer would write it."""
    return (opener * depth + inner + closer * depth).encode()


def with_event_field(uid: str, name: str, raw_json: bytes) -> bytes:
    """A valid envelope whose Event has one more field, given as raw JSON text."""
    document = dumps(envelope(uid))
    return document.replace(b'"count":1', b'"count":1,"' + name.encode() + b'":' + raw_json, 1)


def valid_cases(rng: random.Random, count: int) -> Iterator[Case]:
    for index in range(count):
        uid = f"uid-valid-{index}"
        event = envelope(uid, reason=rng.choice(["BackOff", "FailedMount", "Pulled", "OOMKilling"]))
        yield Case("valid", f"valid/{index}".encode(), dumps(event), CLEAN, occurrence(uid))


def random_bytes(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    size = rng.choice([1, 2, 3, 8, 64, 200, 1000, rng.randrange(1, 4000)])
    data = rng.randbytes(size)
    # A single digit, or digits and spaces, are a JSON number: not an object either.
    return data, NOT_JSON | NOT_OBJECT


def truncated(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    document = envelope(
        f"uid-truncated-{index}", message="Back-off restarting \u00e9\u6f22\U0001f525 container"
    )
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2 if index % 3 == 0 else 0)
    # Any proper prefix of an object, including one cut inside a multi-byte character.
    return text[: rng.randrange(0, len(text))], NOT_JSON


INVALID_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",  # a lead byte without its continuation
    b"\xa0\xa1",  # continuation bytes alone
    b"\xc0\xaf",  # overlong '/'
    b"\xe0\x80\xaf",  # overlong, three bytes
    b"\xed\xa0\x80",  # a UTF-16 surrogate encoded as UTF-8
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xe2\x82",  # truncated three-byte sequence
    b"\xf0\x9f\x98",  # truncated four-byte sequence
]
BAD_ESCAPES = [b"\\ud800", b"\\udfff", b"\\ud800\\u0041", b"\\u12g", b"\\x41", b"\\q"]


def invalid_utf8(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    document = dumps(envelope(f"uid-utf8-{index}", message="MARK"))
    if index % 4 == 3:
        bad = rng.choice(BAD_ESCAPES)  # escapes that do not name a valid character
    else:
        # Noise around, fenced by plain letters so that no random byte completes the sequence.
        noise = rng.randbytes(rng.randrange(0, 4)).replace(b'"', b"").replace(b"\\", b"")
        bad = noise + b"Y" + rng.choice(INVALID_UTF8) + b"Z"
    target = rng.choice([b"MARK", b"prod-a", b"shop", b"BackOff", b"kubelet"])
    if index % 7 == 0:  # in a field name rather than a value
        target = b"firstTimestamp"
    return document.replace(target, target[:2] + bad + target[2:], 1), NOT_JSON


def null_bytes(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    document = dumps(envelope(f"uid-nul-{index}"))
    variant = index % 4
    if variant == 0:  # a raw NUL inside a string: JSON forbids unescaped control characters
        return document.replace(b"kubelet", b"kube\x00let", 1), NOT_JSON
    if variant == 1:  # between tokens
        return document.replace(b",", b",\x00", 1), NOT_JSON
    if variant == 2:  # only NULs
        return b"\x00" * rng.randrange(1, 512), NOT_JSON
    # escaped NUL in the cluster id, which has a pattern
    return dumps({**envelope(f"uid-nul-{index}"), "cluster": "prod\u0000a"}), INVALID


def top_level_not_object(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    values: list[Any] = [
        [],
        [envelope(f"uid-list-{index}")],
        rng.randrange(-(10**12), 10**12),
        rng.random(),
        "herald.raw-event",
        True,
        False,
        None,
        [None, 1, "a"],
    ]
    return dumps(values[index % len(values)]), NOT_OBJECT


def nan_infinity(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    literal = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"1e400", b"-1e400"])
    document = dumps(envelope(f"uid-nan-{index}"))
    target = rng.choice([b'"count":1', b'"v":1', b'"resourceVersion":"1"'])
    name = target.split(b":")[0]
    return document.replace(target, name + b":" + literal, 1), NOT_JSON


def duplicate_keys(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    """The last of duplicate keys wins (orjson, like most parsers): a bad last value is what counts."""
    document = dumps(envelope(f"uid-dup-{index}"))
    last: list[tuple[bytes, frozenset[str]]] = [
        (b'"v":2', BAD_VERSION),
        (b'"schema":"herald.clean-event"', WRONG_SCHEMA),
        (b'"cluster":5', INVALID),
        (b'"event":{}', INVALID),
        (b'"observation":"DELETED"', INVALID),
    ]
    extra, reasons = last[index % len(last)]
    return document[:-1] + b"," + extra + b"}", reasons


WRONG_TYPES: dict[str, tuple[list[Any], frozenset[str]]] = {
    "schema": ([None, 1, True, [], {}, "", "herald.raw-event ", "HERALD.RAW-EVENT"], WRONG_SCHEMA),
    "v": ([None, "1", [], {}, [1], 0, 2, -1, 1.5, True, 1.0], BAD_VERSION),
    "cluster": ([None, 1, True, [], {}, "", "UPPER", "a" * 64, "-a", ["prod-a"]], INVALID),
    "producer_id": ([None, 1, True, [], {}, "", "p" * 254, ["p1"]], INVALID),
    "observed_at": (
        [None, True, [], {}, "", "yesterday", "2026-11-27T08:00:06", "9999-12-31T23:59:59-23:59"],
        INVALID,
    ),
    "observation": ([None, 1, True, [], {}, "", "added", "DELETED"], INVALID),
    "api": ([None, 1, True, [], {}, "", "v2", "events.k8s.io/v1beta1"], INVALID),
    "event": ([None, 1, True, [], "", "{}", [{}], {}], INVALID),
}


def wrong_type(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    name = ENVELOPE_FIELDS[index % len(ENVELOPE_FIELDS)]
    values, reasons = WRONG_TYPES[name]
    value = values[(index // len(ENVELOPE_FIELDS)) % len(values)]
    return dumps({**envelope(f"uid-type-{index}"), name: value}), reasons


def missing_fields(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    missing = set(rng.sample(REQUIRED_FIELDS, rng.randrange(1, len(REQUIRED_FIELDS) + 1)))
    document = {k: v for k, v in envelope(f"uid-missing-{index}").items() if k not in missing}
    # The schema name is checked first, then the version, then the fields.
    reasons = WRONG_SCHEMA if "schema" in missing else BAD_VERSION if "v" in missing else INVALID
    return dumps(document), reasons


def unknown_schema(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    document = envelope(f"uid-unknown-{index}")
    if index % 2:
        schema = rng.choice(["herald.raw-event.v2", "herald.clean-event", "herald.quarantine", "k8s.event"])
        return dumps({**document, "schema": schema}), WRONG_SCHEMA
    return dumps({**document, "v": rng.choice([0, 2, 3, 99, -1, 2**62])}), BAD_VERSION


def _metadata(event_uid: str, /, **changes: Any) -> dict[str, Any]:
    metadata = dict(k8s_event(0, uid=event_uid, resource_version="1")["metadata"])
    for name, value in changes.items():
        if value is _DROP:
            del metadata[name]
        else:
            metadata[name] = value
    return metadata


_DROP = object()

MALFORMED_EVENTS: list[tuple[str, Callable[[str], dict[str, Any]], frozenset[str]]] = [
    ("metadata missing", lambda uid: {"metadata": _DROP}, INVALID),
    ("metadata a list", lambda uid: {"metadata": [uid]}, INVALID),
    ("metadata null", lambda uid: {"metadata": None}, INVALID),
    ("uid missing", lambda uid: {"metadata": _metadata(uid, uid=_DROP)}, INVALID),
    ("uid empty", lambda uid: {"metadata": _metadata(uid, uid="")}, INVALID),
    ("uid a number", lambda uid: {"metadata": _metadata(uid, uid=7)}, INVALID),
    ("uid an object", lambda uid: {"metadata": _metadata(uid, uid={"id": uid})}, INVALID),
    ("resourceVersion missing", lambda uid: {"metadata": _metadata(uid, resourceVersion=_DROP)}, INVALID),
    ("resourceVersion a number", lambda uid: {"metadata": _metadata(uid, resourceVersion=1)}, INVALID),
    ("count a word", lambda uid: {"count": "lots"}, INVALID_EVENT),
    ("count negative", lambda uid: {"count": -3}, INVALID_EVENT),
    ("count fractional", lambda uid: {"count": 1.5}, INVALID_EVENT),
    ("count an object", lambda uid: {"count": {"n": 1}}, INVALID_EVENT),
    ("count past 64 bits as text", lambda uid: {"count": "18446744073709551616"}, INVALID_EVENT),
    ("count past int64", lambda uid: {"count": 2**64 - 1}, INVALID_EVENT),
    ("series count a word", lambda uid: {"series": {"count": "x"}}, INVALID_EVENT),
    ("firstTimestamp garbage", lambda uid: {"firstTimestamp": "yesterday"}, INVALID_EVENT),
    ("lastTimestamp garbage", lambda uid: {"lastTimestamp": "2026-13-45T99:99:99Z"}, INVALID_EVENT),
    ("lastTimestamp naive", lambda uid: {"lastTimestamp": "2026-11-27T08:00:05"}, INVALID_EVENT),
    (
        "lastTimestamp past year 9999 in UTC",
        lambda uid: {"lastTimestamp": "9999-12-31T23:59:59-23:59"},
        INVALID_EVENT,
    ),
    (
        "firstTimestamp before year 1 in UTC",
        lambda uid: {"firstTimestamp": "0001-01-01T00:00:00+01:00"},
        INVALID_EVENT,
    ),
    (
        "eventTime garbage",
        lambda uid: {"firstTimestamp": None, "lastTimestamp": None, "eventTime": "x"},
        INVALID_EVENT,
    ),
    ("series lastObservedTime garbage", lambda uid: {"series": {"lastObservedTime": "soon"}}, INVALID_EVENT),
    (
        "everything wrong at once",
        lambda uid: {"count": "lots", "involvedObject": [], "lastTimestamp": "x"},
        INVALID_EVENT,
    ),
]
"""A valid envelope around a broken Event: no identity is ``invalid``, broken fields ``invalid-event``."""

LENIENT_EVENTS: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("involvedObject a list", lambda uid: {"involvedObject": []}),
    ("involvedObject a string", lambda uid: {"involvedObject": "pod/web"}),
    ("involvedObject null", lambda uid: {"involvedObject": None}),
    ("involvedObject missing", lambda uid: {"involvedObject": _DROP}),
    ("reason a number", lambda uid: {"reason": 5}),
    ("message a list", lambda uid: {"message": ["a"]}),
    ("source a string", lambda uid: {"source": "kubelet"}),
    ("timestamps numbers", lambda uid: {"firstTimestamp": 1, "lastTimestamp": 2}),
    ("NUL in the message", lambda uid: {"message": "a\u0000b"}),
    ("kind null", lambda uid: {"kind": None}),
]
"""Fields the processor reads leniently: an Event from the API is kept, its odd fields defaulted."""


def _event_with(uid: str, changes: dict[str, Any]) -> dict[str, Any]:
    document = envelope(uid)
    for name, value in changes.items():
        if value is _DROP:
            del document["event"][name]
        else:
            document["event"][name] = value
    return document


def malformed_event(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    _, change, reasons = MALFORMED_EVENTS[index % len(MALFORMED_EVENTS)]
    return dumps(_event_with(f"uid-malformed-{index}", change(f"uid-malformed-{index}"))), reasons


def deep_nesting(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    variants: list[tuple[bytes, frozenset[str]]] = [
        (nested(JSON_DEPTH_LIMIT + 1), NOT_JSON),
        (nested(rng.randrange(JSON_DEPTH_LIMIT + 1, 200_000)), NOT_JSON),
        (nested(rng.randrange(JSON_DEPTH_LIMIT + 1, 5_000), inner="0", opener='{"a":', closer="}"), NOT_JSON),
        (nested(JSON_DEPTH_LIMIT, inner=""), NOT_OBJECT),  # just under the limit: parses, not an object
        # Deep inside an Event field: 2 levels (envelope, event) + the nesting.
        (with_event_field(f"uid-deep-{index}", "deep", nested(JSON_DEPTH_LIMIT - 1)), NOT_JSON),
        (
            dumps({**envelope(f"uid-deep-{index}"), "cluster": None})[:-1]
            + b',"cluster":'
            + nested(500)
            + b"}",
            INVALID,
        ),
        (
            with_event_field(f"uid-deep-{index}", "count", nested(900)).replace(b'"count":1,', b"", 1),
            INVALID_EVENT,
        ),
        (b'{"schema":"herald.raw-event","v":1,"event":' + nested(3000, opener='{"a":', closer="}"), NOT_JSON),
    ]
    return variants[index % len(variants)]


def huge(rng: random.Random, index: int) -> tuple[bytes, frozenset[str]]:
    uid = f"uid-huge-{index}"
    hundred_k = list(range(100_000))
    variants: list[tuple[bytes, frozenset[str]]] = [
        (dumps({**envelope(uid), "cluster": "a" * HUGE}), INVALID),
        (dumps({**envelope(uid), "producer_id": "p" * HUGE}), INVALID),
        (dumps(envelope(uid, message="m" * HUGE))[:-40], NOT_JSON),
        (dumps(envelope(uid, message="m" * HUGE)).replace(b"mmmm", b"m\xffm", 1), NOT_JSON),
        (dumps({**envelope(uid), "event": hundred_k}), INVALID),
        (dumps([envelope(uid)] * 1000), NOT_OBJECT),
        (dumps(hundred_k), NOT_OBJECT),
        (rng.randbytes(HUGE), NOT_JSON | NOT_OBJECT),
        (dumps(_event_with(uid, {"metadata": _metadata(uid, uid=hundred_k)})), INVALID),
        (dumps(_event_with(uid, {"count": hundred_k})), INVALID_EVENT),
        (dumps({**envelope(uid), "cluster": {str(i): i for i in range(60_000)}}), INVALID),
        (dumps(_event_with(uid, {"lastTimestamp": "2" * HUGE})), INVALID_EVENT),
        # No real object has such names; copied into incidents, they would outgrow a Kafka message.
        (dumps(envelope(uid, involvedObject={"kind": "Node", "name": "n" * 300_000})), INVALID_EVENT),
        (
            dumps(envelope(uid, involvedObject={"kind": "Pod", "name": "w" * 300_000 + "-7d9c8b6f5d-x2kqp"})),
            INVALID_EVENT,
        ),
        (dumps(envelope(uid, reason="R" * HUGE)), INVALID_EVENT),
        (dumps(envelope(uid, source={"host": "h" * HUGE})), INVALID_EVENT),
    ]
    return variants[index % len(variants)]


HUGE_VALID: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("MB-scale message", lambda uid: envelope(uid, message="m" * HUGE)),
    ("100k-element array in the Event", lambda uid: envelope(uid, managedFields=list(range(100_000)))),
    ("names as long as Kubernetes allows", lambda uid: envelope(uid, involvedObject=LONGEST_NAMES)),
]
LONGEST_NAMES = {"kind": "Pod", "namespace": "n" * 63, "name": "w" * 236 + "-7d9c8b6f5d-x2kqp"}


def lenient_cases() -> Iterator[Case]:
    """Hostile but acceptable: these must be processed, not quarantined."""
    for index, (name, change) in enumerate(LENIENT_EVENTS):
        uid = f"uid-lenient-{index}"
        yield Case(
            f"lenient: {name}",
            f"lenient/{index}".encode(),
            dumps(_event_with(uid, change(uid))),
            CLEAN,
            occurrence(uid),
        )
    for index, (name, build) in enumerate(HUGE_VALID):
        uid = f"uid-huge-valid-{index}"
        yield Case(
            f"huge valid: {name}", f"huge-valid/{index}".encode(), dumps(build(uid)), CLEAN, occurrence(uid)
        )
    uid = "uid-deep-valid"
    deep = with_event_field(uid, "deep", nested(JSON_DEPTH_LIMIT - 2))  # exactly at the limit
    yield Case("lenient: nesting at the parser limit", b"deep-valid", deep, CLEAN, occurrence(uid))
    uid = "uid-dup-valid"
    document = dumps(envelope(uid))
    yield Case(
        "lenient: duplicate key, good last", b"dup-valid", b'{"v":2,' + document[1:], CLEAN, occurrence(uid)
    )
    uid = "uid-no-api"
    document = {k: v for k, v in envelope(uid).items() if k != "api"}
    yield Case("lenient: api omitted (defaults to v1)", b"no-api", dumps(document), CLEAN, occurrence(uid))


BAD_KINDS: list[tuple[str, Callable[[random.Random, int], tuple[bytes, frozenset[str]]], int]] = [
    ("random bytes", random_bytes, 2500),
    ("truncated JSON", truncated, 2000),
    ("invalid UTF-8", invalid_utf8, 1500),
    ("malformed Event", malformed_event, 1200),
    ("wrong types", wrong_type, 800),
    ("missing fields", missing_fields, 500),
    ("unknown schema or version", unknown_schema, 300),
    ("null bytes", null_bytes, 300),
    ("top level not an object", top_level_not_object, 300),
    ("duplicate keys", duplicate_keys, 300),
    ("NaN and Infinity", nan_infinity, 300),
    ("deep nesting", deep_nesting, 120),
    ("huge", huge, 32),
]


def bad_key(rng: random.Random, kind: str, index: int) -> bytes | None:
    """Keys are not validated: some bad messages have none, or junk."""
    if index % 10 == 0:
        return None
    if index % 10 == 1:
        return rng.randbytes(rng.randrange(0, 40))
    return f"bad/{kind}/{index}".encode()


def hostile_inputs(seed: int = SEED, *, valid: int = 300) -> list[Case]:
    """Every bad kind, the lenient cases and ``valid`` ordinary envelopes, shuffled together."""
    rng = random.Random(seed)
    cases = list(valid_cases(rng, valid))
    cases.extend(lenient_cases())
    for kind, generate, count in BAD_KINDS:
        for index in range(count):
            value, reasons = generate(rng, index)
            cases.append(Case(kind, bad_key(rng, kind, index), value, reasons))
    cases.append(Case("tombstone", b"tombstone", None, frozenset({"empty"})))
    cases.append(Case("empty value", b"empty", b"", NOT_JSON))
    cases.append(Case("whitespace", b"whitespace", b" \n\t ", NOT_JSON))
    rng.shuffle(cases)
    return cases


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Produced:
    where: dict[tuple[int, int], Case] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def produce_all(bootstrap: str, topic: str, cases: list[Case]) -> Produced:
    """Produce every case and learn from the delivery reports where each one landed."""
    produced = Produced()
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 20,
            "message.max.bytes": 1_000_000,
        }
    )

    def delivered(case: Case) -> Callable[[KafkaError | None, Message], None]:
        def report(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                produced.failed.append(f"{case.kind}: {error}")
                return
            where = (message.partition() or 0, message.offset() or 0)
            assert where not in produced.where
            produced.where[where] = case

        return report

    for case in cases:
        while True:
            try:
                producer.produce(topic, key=case.key, value=case.value, on_delivery=delivered(case))
                break
            except BufferError:
                producer.poll(0.5)  # backpressure: wait for deliveries, drop nothing
        producer.poll(0)
    assert producer.flush(60) == 0
    return produced


def configure(namespace: Namespace) -> None:
    config = yaml.safe_load(namespace.config_path.read_text())
    config["processor"] = {**config["processor"], "group_wait_seconds": 1, "group_interval_seconds": 3}
    namespace.config_path.write_text(yaml.safe_dump(config))
    ensure_namespace_topics(namespace)


def written(namespace: Namespace, suffix: str) -> int:
    """How many messages a topic holds (its end offsets): cheap to ask while waiting."""
    consumer = Consumer({"bootstrap.servers": namespace.bootstrap, "group.id": f"size-{uuid.uuid4().hex}"})
    try:
        topic = namespace.topic(suffix)
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        )
    finally:
        consumer.close()


def records(namespace: Namespace, suffix: str, *, expected: int, timeout: float) -> list[Message]:
    return read_topic(
        namespace.bootstrap, namespace.topic(suffix), expected=expected, timeout=timeout, settle=3
    )


def record_problems(record: QuarantineRecord, case: Case, label: str) -> list[str]:
    """What is wrong with one quarantine record of a bad message."""
    problems = []
    if record.reason not in case.reasons:
        problems.append(
            f"{label}: reason {record.reason!r}, expected {sorted(case.reasons)} ({record.error[:200]})"
        )
    if not record.error.strip() or not record.reason.strip():
        problems.append(f"{label}: empty reason or error")
    if record.stage != "processor.validate":
        problems.append(f"{label}: stage {record.stage!r}")
    original = case.value or b""
    if record.payload != original[:MAX_PAYLOAD_BYTES]:
        problems.append(f"{label}: payload differs from the bytes produced")
    truncated = len(original) > MAX_PAYLOAD_BYTES
    if record.payload_size != len(original) or record.payload_truncated != truncated:
        problems.append(f"{label}: payload size {record.payload_size}, truncated {record.payload_truncated}")
    return problems


def account(
    produced: Produced, raw_topic: str, invalid: list[QuarantineRecord], clean: list[CleanEvent]
) -> tuple[list[str], Counter[str]]:
    """Every problem found, and the distribution of quarantine reasons (for the failure message)."""
    problems: list[str] = []
    reasons: Counter[str] = Counter(r.reason for r in invalid)
    quarantined: Counter[tuple[int, int]] = Counter()
    for record in invalid:
        where = (record.partition, record.offset)
        quarantined[where] += 1
        case = produced.where.get(where)
        if record.source_topic != raw_topic or case is None:
            problems.append(f"a quarantine record for nothing produced: {record.source_topic}@{where}")
        elif not case.bad:
            problems.append(
                f"valid {case.kind} at {where} quarantined: {record.reason}: {record.error[:200]}"
            )
        else:
            problems.extend(record_problems(record, case, f"{case.kind} at {where}"))
    expected_clean = {c.occurrence_id: c for c in produced.where.values() if not c.bad}
    cleaned = Counter(c.occurrence_id for c in clean)
    for occurrence_id, times in cleaned.items():
        if occurrence_id not in expected_clean:
            problems.append(f"an unexpected clean event {occurrence_id[:120]}")
        elif times != 1:
            problems.append(
                f"{expected_clean[occurrence_id].kind}: {times} clean events for {occurrence_id[:80]}"
            )
    for where, case in sorted(produced.where.items()):
        if case.bad and quarantined[where] != 1:
            problems.append(f"{case.kind} at {where}: quarantined {quarantined[where]} times, expected once")
        if not case.bad and cleaned[case.occurrence_id] != 1:
            what = (
                "never reached events.clean" if not cleaned[case.occurrence_id] else "cleaned more than once"
            )
            problems.append(f"{case.kind} at {where} ({case.occurrence_id}): {what}")
    return problems, reasons


def test_ten_thousand_hostile_messages_are_each_processed_or_quarantined_once(
    namespace: Namespace, tmp_path: Path
) -> None:
    configure(namespace)
    cases = hostile_inputs()
    bad = [c for c in cases if c.bad]
    good = [c for c in cases if not c.bad]
    assert len(bad) >= 10_000
    assert sum(len(c.value or b"") for c in cases) < 200_000_000
    assert {c.kind for c in bad} >= {kind for kind, _, _ in BAD_KINDS}
    raw_topic = namespace.topic("events.raw")
    started = time.monotonic()
    with herald_process(namespace.config_path, "processor", log_dir=tmp_path, name="processor") as worker:
        produced = produce_all(namespace.bootstrap, raw_topic, cases)
        assert not produced.failed, produced.failed[:10]
        assert len(produced.where) == len(cases)
        # Count arrivals until everything is in (or the deadline says it never will be).
        wait_until(
            lambda: worker.poll() is not None or written(namespace, "events.invalid") >= len(bad),
            timeout=150,
            interval=2,
            what=f"{len(bad)} quarantine records",
        )
        assert worker.poll() is None, "the worker died during the storm"
        invalid_messages = records(namespace, "events.invalid", expected=len(bad), timeout=60)
        clean_messages = records(namespace, "events.clean", expected=len(good), timeout=60)
        alive = worker.poll() is None
        # Still working afterwards: one more valid occurrence on every raw partition.
        finals = [envelope(f"uid-final-{p}") for p in range(namespace.config.kafka.partitions)]
        final_producer = Producer({"bootstrap.servers": namespace.bootstrap})
        for partition, document in enumerate(finals):
            final_producer.produce(raw_topic, key=b"final", value=dumps(document), partition=partition)
        assert final_producer.flush(30) == 0
        final_ids = {occurrence(f"uid-final-{p}") for p in range(len(finals))}
        wait_until(
            lambda: (
                final_ids
                <= {
                    decode(m.value() or b"", CleanEvent).occurrence_id
                    for m in records(namespace, "events.clean", expected=len(good) + len(finals), timeout=20)
                }
            ),
            timeout=120,
            interval=1,
            what="the final valid messages after the storm of bad ones",
        )
        still_alive = worker.poll() is None
    elapsed = time.monotonic() - started

    invalid = [decode(m.value() or b"", QuarantineRecord) for m in invalid_messages]
    clean = [decode(m.value() or b"", CleanEvent) for m in clean_messages]
    problems, reasons = account(produced, raw_topic, invalid, clean)
    summary = (
        f"{len(bad)} bad and {len(good)} valid produced in {elapsed:.0f}s; {len(invalid)} quarantined, "
        f"{len(clean)} clean; reasons: {dict(reasons.most_common())}; "
        f"{len(problems)} problems by kind: {dict(Counter(p.split(' at ')[0] for p in problems))}"
    )
    assert alive, f"the worker died during the storm. {summary}"
    assert still_alive, f"the worker died after the storm. {summary}"
    assert not problems, f"{summary}\n" + "\n".join(problems[:40])
    assert len(invalid) == len(bad), summary
    assert len(clean) == len(good), summary
    payloads = [base64.b64decode(r.payload_b64) for r in invalid]
    assert max(len(p) for p in payloads) == MAX_PAYLOAD_BYTES, "the huge payloads are kept up to the bound"
