"""What a stage needs from the world: a table of bytes and a way to publish."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from processors.delivery.outputs import Cause


class Table(Protocol):
    """A changelog-backed Faust table in the worker; a dict in a unit test."""

    def get(self, key: bytes, /) -> bytes | None: ...

    def __setitem__(self, key: bytes, value: bytes, /) -> None: ...

    def __delitem__(self, key: bytes, /) -> None: ...

    def pop(self, key: bytes, default: None = None, /) -> bytes | None: ...

    def items(self) -> Iterable[tuple[bytes, bytes]]: ...


class Publish(Protocol):
    """Hand a message to the producer; it is flushed before the inputs' offsets are committed.
    ``causes`` are the inputs quarantined in its place if Kafka refuses it for its size."""

    async def __call__(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        causes: Sequence[Cause] = (),
        partition: int | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> None: ...
