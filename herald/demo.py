"""``herald demo``: the whole pipeline on a simulated cluster, alerts printed as they are delivered.

Runs the three processes exactly as a deployment would (separate OS processes, one
Kafka), under a fresh topic prefix per run so earlier runs never leak into the count.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import yaml

from producer.simulate import simulate
from runtime.config import load_config
from runtime.kafka import ensure_topics

BANNER = "── herald alert "
QUIET_SECONDS = 15.0
"""No new notification for this long (more than the demo's group interval) means the demo is done."""


def _demo_config(directory: Path, base: Path | None) -> Path:
    data: dict[str, object] = {}
    if base is not None:
        data = yaml.safe_load(base.read_text()) or {}
    kafka = dict(data.get("kafka") or {})  # type: ignore[call-overload]
    kafka["topic_prefix"] = f"herald.demo-{int(time.time())}."
    kafka.setdefault("partitions", 3)
    data["kafka"] = kafka
    data.setdefault("producer", {"cluster": "demo"})
    data["processor"] = {
        **dict(data.get("processor") or {}),  # type: ignore[call-overload]
        "data_dir": str(directory / "processor"),
        # Short windows so a demo shows grouping and updates within a minute.
        "group_wait_seconds": 3,
        "group_interval_seconds": 10,
    }
    data["receivers"] = [{"name": "console", "type": "console"}]
    path = directory / "herald.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


DEMO_SIMULATION = ("--clusters", "2", "--rate", "6", "--duration", "30", "--seed", "7", "--speed", "3")


def _count_events(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _count_simulated() -> int:
    return sum(1 for _ in simulate(clusters=["sim-1", "sim-2"], rate=6, duration=30, seed=7))


class _Alerts:
    """Echoes the console notifier's output from a thread of its own and counts the alerts in it,
    so the demo can tell when deliveries have stopped."""

    def __init__(self, output: IO[str]) -> None:
        self.delivered = 0
        self.last_alert = time.monotonic()
        threading.Thread(target=self._echo, args=(output,), daemon=True).start()

    def _echo(self, output: IO[str]) -> None:
        for line in output:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.startswith(BANNER):
                self.delivered += 1
                self.last_alert = time.monotonic()

    def wait_until_quiet(self, *, deadline: float) -> None:
        """Until no alert came for QUIET_SECONDS after the first one, or until the deadline."""
        while time.monotonic() < deadline and not (
            self.delivered and time.monotonic() - self.last_alert > QUIET_SECONDS
        ):
            time.sleep(0.5)


def _stop(processes: list[subprocess.Popen[Any]]) -> None:
    """Ask every process to stop before waiting for any: they shut down side by side."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def run_demo(*, config_path: Path | None, events_file: Path | None, timeout: float) -> int:
    expected = _count_events(events_file) if events_file else _count_simulated()
    workdir = Path(tempfile.mkdtemp(prefix="herald-demo-"))
    config_file = _demo_config(workdir, config_path)
    config = load_config(config_file)
    print(
        f"demo: Kafka at {config.kafka.bootstrap_servers}, "
        f"topics {config.kafka.topic_prefix}*, logs in {workdir}"
    )
    ensure_topics(config.kafka)
    herald = [sys.executable, "-m", "herald", "-c", str(config_file), "--log-level", "WARNING"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with (workdir / "processor.log").open("wb") as processor_log:
        processor = subprocess.Popen(
            [*herald, "processor"], stdout=processor_log, stderr=subprocess.STDOUT, env=env
        )
        notifier = subprocess.Popen(
            [*herald, "notifier", "--receiver", "console"],
            stdout=subprocess.PIPE,
            stderr=(workdir / "notifier.log").open("wb"),
            env=env,
            text=True,
        )
        assert notifier.stdout is not None
        alerts = _Alerts(notifier.stdout)
        source = (
            ["replay", str(events_file), "--speed", "0"] if events_file else ["simulate", *DEMO_SIMULATION]
        )
        producer = subprocess.run([*herald, *source], env=env, check=False)
        print(
            f"demo: published {expected} events (exit {producer.returncode}); waiting for the last updates..."
        )
        alerts.wait_until_quiet(deadline=started + timeout)
        _stop([notifier, processor])
    elapsed = time.monotonic() - started
    ok = producer.returncode == 0 and alerts.delivered > 0
    print(
        f"demo: {expected} events became {alerts.delivered} incident notifications in {elapsed:.1f}s"
        + ("" if ok else " (incomplete: see the logs)")
    )
    return 0 if ok else 1
