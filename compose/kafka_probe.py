#!/usr/bin/env python3
"""Ask a Kafka broker for its metadata, to tell whether it is really serving.

An open TCP port only says that something listens; a broker that answers a
Metadata request with itself in the broker list is ready for clients. This
script speaks just enough of the Kafka wire protocol for that (Metadata v4,
the oldest version Kafka 4 still accepts since KIP-896) with the standard
library only, so compose/kafka-local can use it before the project's
virtualenv exists.

Usage: kafka_probe.py HOST:PORT [--timeout SECONDS]
Exit status: 0 if the broker answered and listed at least one broker,
1 otherwise (with a one-line reason on stderr), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import time
from dataclasses import dataclass

METADATA_API_KEY = 3
METADATA_API_VERSION = 4
CLIENT_ID = "kube-herald-probe"
# A Metadata answer for an idle local broker is a few KiB; anything huge means
# we are not talking to Kafka.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ProbeError(Exception):
    """The broker did not give a usable Metadata answer."""


@dataclass(frozen=True)
class Broker:
    node_id: int
    host: str
    port: int
    rack: str | None


@dataclass(frozen=True)
class Metadata:
    throttle_time_ms: int
    brokers: list[Broker]
    cluster_id: str | None
    controller_id: int


def encode_metadata_request(correlation_id: int, client_id: str = CLIENT_ID) -> bytes:
    """Build a size-prefixed Metadata v4 request asking for all topics."""
    client = client_id.encode("utf-8")
    header = (
        struct.pack(">hhih", METADATA_API_KEY, METADATA_API_VERSION, correlation_id, len(client)) + client
    )
    # topics: null array (-1) = all topics; allow_auto_topic_creation: false.
    body = struct.pack(">ib", -1, 0)
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


class _Reader:
    """Sequential big-endian reader over one response payload."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if size < 0 or end > len(self._data):
            raise ProbeError("truncated Metadata response")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def int16(self) -> int:
        return int(struct.unpack(">h", self._take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self._take(4))[0])

    def nullable_string(self) -> str | None:
        length = self.int16()
        if length == -1:
            return None
        return self._take(length).decode("utf-8", errors="replace")

    def string(self) -> str:
        value = self.nullable_string()
        if value is None:
            raise ProbeError("unexpected null string in Metadata response")
        return value


def decode_metadata_response(payload: bytes, correlation_id: int) -> Metadata:
    """Parse the start of a Metadata v4 response (after the size prefix)."""
    reader = _Reader(payload)
    got = reader.int32()
    if got != correlation_id:
        raise ProbeError(f"correlation id mismatch: sent {correlation_id}, got {got}")
    throttle_time_ms = reader.int32()
    count = reader.int32()
    if count < 0 or count > 100_000:
        raise ProbeError(f"implausible broker count {count}")
    brokers = [
        Broker(
            node_id=reader.int32(),
            host=reader.string(),
            port=reader.int32(),
            rack=reader.nullable_string(),
        )
        for _ in range(count)
    ]
    cluster_id = reader.nullable_string()
    controller_id = reader.int32()
    # The topics array follows; the probe has no use for it.
    return Metadata(throttle_time_ms, brokers, cluster_id, controller_id)


def _recv_exact(sock: socket.socket, size: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            raise ProbeError("connection closed by peer before a full response")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def probe(host: str, port: int, timeout: float) -> Metadata:
    """Send one Metadata request to host:port and return the parsed answer."""
    deadline = time.monotonic() + timeout
    correlation_id = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(encode_metadata_request(correlation_id))
        (size,) = struct.unpack(">i", _recv_exact(sock, 4, deadline))
        if size < 4 or size > MAX_RESPONSE_BYTES:
            raise ProbeError(f"implausible response size {size}: not a Kafka broker?")
        return decode_metadata_response(_recv_exact(sock, size, deadline), correlation_id)


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {address!r}")
    return host.strip("[]"), port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check that a Kafka broker answers a Metadata request.")
    parser.add_argument("address", metavar="HOST:PORT")
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds for connecting plus answering (default 5)",
    )
    args = parser.parse_args(argv)
    try:
        host, port = parse_address(args.address)
    except ValueError as exc:
        parser.error(str(exc))

    where = f"{host}:{port}"
    try:
        metadata = probe(host, port, args.timeout)
    except ConnectionRefusedError:
        print(f"kafka_probe: {where}: connection refused", file=sys.stderr)
        return 1
    except TimeoutError:  # socket.timeout is an alias since Python 3.10
        print(f"kafka_probe: {where}: no answer within {args.timeout:g} s", file=sys.stderr)
        return 1
    except ProbeError as exc:
        print(f"kafka_probe: {where}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"kafka_probe: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1

    if not metadata.brokers:
        print(f"kafka_probe: {where}: answered but lists no broker", file=sys.stderr)
        return 1
    print(f"cluster {metadata.cluster_id} controller {metadata.controller_id}")
    for broker in metadata.brokers:
        rack = f" rack {broker.rack}" if broker.rack else ""
        print(f"broker {broker.node_id} at {broker.host}:{broker.port}{rack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
