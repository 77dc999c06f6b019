"""A private Kafka broker for tests that stop and start it (the shared one must stay up)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

KAFKA_LOCAL = Path(__file__).parents[2] / "compose" / "kafka-local"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateBroker:
    home: Path
    port: int
    controller_port: int
    sasl_port: int | None = None
    sasl_password: str | None = None
    """With both set, the broker also listens with SASL_PLAINTEXT (PLAIN) for user ``herald``."""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        assert self.sasl_port is not None, "started without a SASL listener"
        return f"127.0.0.1:{self.sasl_port}"

    def _run(self, command: str) -> None:
        env = {
            **os.environ,
            "HERALD_KAFKA_HOME": str(self.home),
            "HERALD_KAFKA_PORT": str(self.port),
            "HERALD_KAFKA_CONTROLLER_PORT": str(self.controller_port),
        }
        if self.sasl_port is not None and self.sasl_password is not None:
            env |= {
                "HERALD_KAFKA_SASL_PORT": str(self.sasl_port),
                "HERALD_KAFKA_SASL_PASSWORD": self.sasl_password,
            }
        done = subprocess.run(
            [str(KAFKA_LOCAL), command], env=env, capture_output=True, timeout=180, check=False
        )
        if done.returncode:
            said = (done.stderr or done.stdout).decode(errors="replace").strip()
            raise BrokerCommandError(f"kafka-local {command} exited {done.returncode}: {said[-2000:]}")

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")


class BrokerCommandError(RuntimeError):
    """kafka-local failed; its own message says why."""


START_ATTEMPTS = 3
"""A port free when chosen can be taken before the broker binds it (another client's outgoing
connection on a busy machine): the fault suite met it once in five runs."""


@contextmanager
def private_broker(home: Path, *, sasl_password: str | None = None) -> Iterator[PrivateBroker]:
    for attempt in range(1, START_ATTEMPTS + 1):
        sasl_port = free_port() if sasl_password else None
        broker = PrivateBroker(home, free_port(), free_port(), sasl_port, sasl_password)
        try:
            broker.start()
            break
        except BrokerCommandError as exc:
            if "already in use" not in str(exc) or attempt == START_ATTEMPTS:
                raise
    try:
        yield broker
    finally:
        broker.stop()
