"""Run herald processes as a user would: separate OS processes with their own logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def herald_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "herald", "-c", str(config), *args]


@contextmanager
def herald_process(config: Path, *args: str, log_dir: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``herald ARGS`` and stop it (SIGTERM, then SIGKILL) when the block ends.

    The log is printed on teardown when the test failed, so a red CI run explains itself.
    """
    log_path = log_dir / f"{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HERALD_KAFKA_BOOTSTRAP", None)  # the config file names the broker
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            herald_command(config, *args), stdout=log, stderr=subprocess.STDOUT, env=env
        )
        try:
            yield process
        finally:
            exited_early = process.poll()
            stop(process)
    if exited_early is not None and exited_early not in (0, -9, 137):
        sys.stderr.write(f"\n{name} exited on its own with {exited_early}\n")
    sys.stderr.write(f"\n--- {name} log (tail) ---\n{tail(log_path)}\n")


def stop(process: subprocess.Popen[bytes], *, timeout: float = 30.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
