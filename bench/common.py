"""Shared bench plumbing: one core, alternating runs, medians, results as JSON beside the table."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def cpu_seconds(pid: int | str = "self") -> float:
    """CPU time (user + system) of process ``pid`` so far, every thread of it summed, in seconds.

    From /proc/<pid>/stat (utime and stime, fields 14 and 15, in clock ticks): a process's
    CPU does not depend on what else the shared machine runs, its wall-clock rate does.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # fields[0] is the state, field 3 of the line: utime and stime are fields[11] and fields[12].
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin_to_one_core() -> int:
    """Pin this process (and the client threads it starts later) to one core; returns which."""
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


@dataclass
class Measurement:
    name: str
    items: int
    seconds: list[float]

    @property
    def rate(self) -> float:
        return self.items / statistics.median(self.seconds)


def alternate(runs: int, *candidates: tuple[str, int, Callable[[], None]]) -> list[Measurement]:
    """Run each candidate ``runs`` times, interleaved, so machine noise hits them alike."""
    results = [Measurement(name, items, []) for name, items, _ in candidates]
    for _ in range(runs):
        for measurement, (_, _, run) in zip(results, candidates, strict=True):
            started = time.perf_counter()
            run()
            measurement.seconds.append(time.perf_counter() - started)
    return results


def report(bench: str, measurements: list[Measurement], *, baseline: str, extra: dict[str, object]) -> None:
    base = next(m for m in measurements if m.name == baseline)
    print(f"\n{bench} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, pinned to one)")
    for m in measurements:
        print(f"  {m.name:<28} {m.rate:>12,.0f} /s   x{m.rate / base.rate:.2f} of {baseline}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{bench}.json").write_text(
        json.dumps(
            {
                "bench": bench,
                "baseline": baseline,
                "results": {
                    m.name: {"per_second": round(m.rate), "runs_seconds": m.seconds} for m in measurements
                },
                "ratio": {m.name: round(m.rate / base.rate, 3) for m in measurements},
                **extra,
            },
            indent=2,
        )
        + "\n"
    )
