"""Run herald processes as a user would: separate OS processes with their own logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def herald_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "herald", "-c", str(config), *args]


@contextmanager
def herald_process(
    config: Path, *args: str, log_dir: Path, name: str, instance_id: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``herald ARGS`` and stop it (SIGTERM, then SIGKILL) when the block ends.

    Each process is its own static group member, as each pod is (``POD_NAME``): a unique id
    unless ``instance_id`` is given, which a restart passes again to come back as the same
    member, as a container restarted in its pod does.

    The log's tail is printed on teardown (pytest shows it for a failed test) and, when the
    block raises, attached to the exception as a note: CI keeps only part of a long report,
    and the traceback is the part it keeps, so a red run explains itself there.
    """
    log_path = log_dir / f"{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HERALD_KAFKA_BOOTSTRAP", None)  # the config file names the broker
    env["POD_NAME"] = instance_id or f"{name}-{uuid.uuid4().hex[:8]}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            herald_command(config, *args), stdout=log, stderr=subprocess.STDOUT, env=env
        )
        try:
            yield process
        except BaseException as failure:
            failure.add_note(explain(process, log_path, name, processor="processor" in args))
            raise
        finally:
            exited_early = process.poll()
            stop(process)
    if exited_early is not None and exited_early not in (0, -9, 137):
        sys.stderr.write(f"\n{name} exited on its own with {exited_early}\n")
    sys.stderr.write(f"\n--- {name} log (tail) ---\n{tail(log_path)}\n")


DUMP_HEADER = "worker state (SIGUSR1):"


def explain(process: subprocess.Popen[bytes], log_path: Path, name: str, *, processor: bool) -> str:
    """The log's last lines and, from a live processor, its state dump (see processors/diagnostics)."""
    if processor and process.poll() is None:
        process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while DUMP_HEADER not in log_path.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.1)
    text = log_path.read_text(errors="replace")
    before, header, dump = text.partition(DUMP_HEADER)
    lines = "\n".join(before.splitlines()[-20:])
    state = "\n".join((header + dump).splitlines()[:60])
    return f"--- {name} log (last lines) ---\n{lines}\n{state}".rstrip()


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
