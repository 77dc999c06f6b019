"""Creating, listing and expiring silences: records in the compacted ``silences`` topic.

Every notifier replica reads the whole topic (see :mod:`notifiers.state`), so a silence
added through any replica's HTTP API or the CLI applies everywhere within moments.
Expiring a silence rewrites it with ``ends_at`` = now: its history stays readable.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from confluent_kafka import KafkaError, Producer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from notifiers.state import SilenceBook
from runtime.config import KafkaSettings
from runtime.kafka import CompactedTopicReader, client_config, ensure_topics
from schemas import Matcher, Silence, encode
from schemas.base import utc_now

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> float:
    """``90m``, ``2h``, ``1d12h``: a duration as people write it, in seconds."""
    found = _DURATION.match(text.strip())
    if not text.strip() or found is None:
        raise ValueError(f"{text!r}: expected a duration like 30m, 2h or 1d12h")
    days, hours, minutes, seconds = (int(part or 0) for part in found.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise ValueError(f"{text!r}: must be longer than zero")
    return float(total)


class SilenceRequest(BaseModel):
    """What a person supplies; the rest (id, times) is filled in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    matchers: list[Matcher] = Field(min_length=1)
    created_by: str = Field(min_length=1, max_length=200)
    comment: str = Field("", max_length=2000)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    duration_seconds: float | None = Field(None, gt=0)

    def silence(self, *, now: datetime | None = None) -> Silence:
        now = now or utc_now()
        starts = self.starts_at or now
        if self.ends_at is None and self.duration_seconds is None:
            raise ValueError("give ends_at or duration_seconds")
        ends = self.ends_at or starts + timedelta(seconds=self.duration_seconds or 0)
        return Silence(
            id=uuid.uuid4().hex[:16],
            matchers=self.matchers,
            starts_at=starts,
            ends_at=ends,
            created_by=self.created_by,
            comment=self.comment,
            updated_at=now,
        )


def parse_request(data: Any) -> Silence:
    """A silence from untrusted input (the HTTP API); ValueError says what is wrong."""
    try:
        return SilenceRequest.model_validate(data).silence()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}" for error in exc.errors()
        )
        raise ValueError(problems) from None


def expired(silence: Silence, *, now: datetime | None = None) -> Silence:
    now = now or utc_now()
    ends = max(now, silence.starts_at + timedelta(microseconds=1))
    return silence.model_copy(update={"ends_at": min(silence.ends_at, ends), "updated_at": now})


class SilenceStore:
    """Writes silences and reads them back: the CLI's and the HTTP API's access to the topic."""

    def __init__(self, kafka: KafkaSettings, book: SilenceBook | None = None) -> None:
        self._kafka = kafka
        self._book = book
        self._producer = Producer(client_config(kafka, **{"enable.idempotence": True, "acks": "all"}))

    def book(self, *, timeout: float = 60.0) -> SilenceBook:
        """The live view when running in a notifier; otherwise the topic read once, whole."""
        if self._book is not None:
            return self._book
        ensure_topics(self._kafka, ["silences"])
        book = SilenceBook()
        reader = CompactedTopicReader(self._kafka, self._kafka.topics.silences, book.on_record)
        reader.start()
        try:
            reader.wait_caught_up(timeout)
        finally:
            reader.stop()
        return book

    def save(self, silence: Silence) -> Silence:
        errors: list[KafkaError] = []
        ensure_topics(self._kafka, ["silences"])
        self._producer.produce(
            self._kafka.topics.silences,
            key=silence.id.encode(),
            value=encode(silence),
            on_delivery=lambda err, _msg: errors.append(err) if err else None,
        )
        if self._producer.flush(30) or errors:
            raise RuntimeError(f"could not save silence {silence.id}: {errors or 'timed out'}")
        if self._book is not None:
            self._book.put(silence.id, silence)
        return silence

    def expire(self, silence_id: str) -> Silence:
        current = self.book().get(silence_id)
        if current is None:
            raise KeyError(silence_id)
        return self.save(expired(current))


SHORT_ID_CHARS = 8
"""Silence ids are shown this long at least, longer where two would share the prefix (like git)."""

MIN_PREFIX_CHARS = 4
"""A prefix shorter than this names no silence, however few there are: a typo must not expire one."""


def short_ids(ids: Iterable[str], *, minimum: int = SHORT_ID_CHARS) -> dict[str, str]:
    """Each id -> its shortest prefix (at least ``minimum`` long) that no other id starts with."""
    unique = sorted(set(ids))
    shown: dict[str, str] = {}
    for index, current in enumerate(unique):
        neighbours = unique[max(0, index - 1) : index] + unique[index + 1 : index + 2]
        shared = max((_common_length(current, other) for other in neighbours), default=0)
        shown[current] = current[: max(minimum, shared + 1)]
    return shown


def _common_length(a: str, b: str) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


class SilenceIdError(LookupError):
    """A prefix that names no silence, or more than one; the message is one line for a person."""


def resolve_id(prefix: str, ids: Iterable[str]) -> str:
    """The one id starting with ``prefix`` (a full id always names itself)."""
    known = set(ids)
    if prefix in known:
        return prefix
    if len(prefix) < MIN_PREFIX_CHARS:
        raise SilenceIdError(f"{prefix!r}: give at least {MIN_PREFIX_CHARS} characters of a silence id")
    found = sorted(candidate for candidate in known if candidate.startswith(prefix))
    if not found:
        raise SilenceIdError(f"no silence {prefix!r}")
    if len(found) > 1:
        shown = short_ids(known)
        raise SilenceIdError(f"{prefix!r} is ambiguous: {', '.join(shown[c] for c in found)}")
    return found[0]
