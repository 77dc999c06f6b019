"""Write docs/benchmarks.md and docs/img/benchmarks.png from the results in bench/results/.

    python -m bench.report

Every figure stands beside the baseline measured in the same run, and beside the target the
project set for it; a figure whose bench has not run says so instead of showing an old number.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or servers
import matplotlib.pyplot as plt

from bench.common import RESULTS
from bench.quality import quality_section

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "img" / "benchmarks.png"


@dataclass
class Row:
    figure: str
    herald: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


Meets = Callable[[float, int], bool]
"""(ratio to baseline, herald's rate per second) -> target met?"""


def throughput_row(name: str, figure: str, herald_key: str, target: str, meets: Meets | None = None) -> Row:
    data = load(name)
    results = data["results"] if data else {}
    herald = next((key for key in results if key.startswith(herald_key)), None)
    if data is None or herald is None:
        return Row(figure, "not run", "", None, target, None)
    baseline = data["baseline"]
    ratio = data["ratio"][herald]
    herald_rate = results[herald]["per_second"]
    met = meets(ratio, herald_rate) if meets else None
    return Row(
        figure,
        f"{herald_rate:,} /s",
        f"{results[baseline]['per_second']:,} /s ({baseline})",
        ratio,
        target,
        met,
    )


def herald_rate(data: dict[str, Any]) -> int:
    return max(int(v["per_second"]) for k, v in data["results"].items() if k.startswith("herald"))


def rows() -> list[Row]:
    table = [
        throughput_row(
            "producer", "producer events/s", "herald", ">= 0.5x the raw client", lambda ratio, _: ratio >= 0.5
        ),
        throughput_row(
            "processor",
            "processor events/s, one worker",
            "herald",
            ">= 20,000 /s per worker",
            lambda _, rate: rate >= 20_000,
        ),
        throughput_row(
            "processor",
            "processor's own steps alone, one core (no Kafka, no Faust)",
            "steps alone",
            "(none: the worker's ceiling if streaming cost nothing)",
        ),
        throughput_row("notifier-receiver", "webhook send/s", "WebhookReceiver", "(none)"),
        throughput_row("notifier-pipeline", "notifier incidents/s", "herald", "(none)"),
    ]
    one, two = load("processor"), load("processor-2-workers")
    if one and two:
        scaling = herald_rate(two) / herald_rate(one)
        table.append(
            Row(
                "processor scaling, 1 -> 2 workers",
                f"{herald_rate(two):,} /s",
                f"{herald_rate(one):,} /s (one worker)",
                scaling,
                "(none; 2 cores shared with the broker)",
                None,
            )
        )
    else:
        table.append(Row("processor scaling, 1 -> 2 workers", "not run", "", None, "(none)", None))
    # The run with the most distinct occurrences in the dedup table says most about memory.
    runs = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("processor*.json"))]
    rss_source = max(
        (run for run in runs if "peak_rss_mb" in run), key=lambda run: run["events"], default=None
    )
    if rss_source:
        peak = max(rss_source["peak_rss_mb"])
        table.append(
            Row(
                f"processor peak RSS at {rss_source['events']:,} distinct occurrences",
                f"{peak} MB",
                "",
                None,
                "<= 500 MB at 1,000,000",
                peak <= 500 if rss_source["events"] >= 1_000_000 else None,
            )
        )
    pipeline = load("pipeline")
    if pipeline is None:
        table.append(Row("end-to-end latency", "not run", "", None, "p99 <= 500 ms at 1,000/s", None))
        table.append(Row("storm compression", "not run", "", None, "10,000 -> <= 3 messages", None))
        return table
    for rate, figures in pipeline["latency"].items():
        herald, plain = figures["herald"], figures["baseline"]
        table.append(
            Row(
                f"end-to-end latency at {int(rate):,}/s (p50 / p95 / p99)",
                f"{herald['p50_ms']:,} / {herald['p95_ms']:,} / {herald['p99_ms']:,} ms",
                f"{plain['p50_ms']:,} / {plain['p95_ms']:,} / {plain['p99_ms']:,} ms (plain hop + POST)",
                herald["p99_ms"] / max(plain["p99_ms"], 0.1),
                "p99 <= 500 ms at 1,000/s" if rate == "1000" else "(none)",
                herald["p99_ms"] <= 500 if rate == "1000" else None,
            )
        )
    storm = pipeline["storm"]
    table.append(
        Row(
            "storm compression (one incident)",
            f"{storm['messages_out']} messages",
            f"{storm['occurrences_in']:,} occurrences",
            None,
            "10,000 -> <= 3 messages",
            storm["messages_out"] <= 3 if storm["occurrences_in"] >= 10_000 else None,
        )
    )
    return table


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    java = subprocess.run(
        ["java", "-version"], capture_output=True, text=True, check=False
    ).stderr.splitlines()
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_kib / 1024 / 1024:.0f} GiB; Linux {platform.release()}; "
        f"Python {sys.version.split()[0]}; {java[0] if java else 'java unknown'}; the broker is "
        "compose/kafka-local's single KRaft node on the same machine."
    )


def mark(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: ""}[met]


def render(table: list[Row]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.report` after the bench modules); do not edit.",
        "Each figure is measured beside its baseline in the same run, because this machine is shared",
        "and noisy: the ratio is the figure to compare across machines, not the absolute rate.",
        "",
        f"Machine: {machine()}",
        "",
        "| figure | herald | baseline (same run) | ratio | target | |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in table:
        ratio = f"x{row.ratio:.2f}" if row.ratio is not None else ""
        lines.append(
            f"| {row.figure} | {row.herald} | {row.baseline} | {ratio} | {row.target} | {mark(row.met)} |"
        )
    lines += ["", "![ratios to baseline](img/benchmarks.png)", ""]
    lines += processor_profile()
    lines += ["## Method", ""]
    for module in ("producer_bench", "processor_bench", "notifier_bench", "pipeline_bench"):
        doc = importlib.import_module(f"bench.{module}").__doc__
        lines += [f"### bench/{module}.py", "", (doc or "").strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def processor_profile() -> list[str]:
    """Where the one-worker processor run spent its CPU, by layer (bench/profile.py)."""
    data = load("processor")
    found = data.get("profile") if data else None
    if not found or not found["layers"]:
        return []
    lines = [
        "## Where the processor's time goes",
        "",
        f"py-spy, {found['samples']:,} samples of the one-worker run (busy {found['busy']:.0%} of the"
        " sampled time), each attributed to the innermost frame of a known layer:",
        "",
        "| layer | share of CPU samples |",
        "|---|---:|",
    ]
    lines += [f"| {layer} | {share:.0%} |" for layer, share in found["layers"].items()]
    return [*lines, ""]


def plot(table: list[Row]) -> None:
    measured = [row for row in table if row.ratio is not None]
    figure, axes = plt.subplots(figsize=(9, 0.5 * len(measured) + 1.5))
    names = [row.figure for row in measured]
    ratios = [row.ratio or 0.0 for row in measured]
    colours = ["#c0392b" if row.met is False else "#2e86c1" for row in measured]
    axes.barh(names, ratios, color=colours)
    axes.axvline(1.0, color="#555", linestyle="--", linewidth=1)
    axes.set_xscale("log")
    axes.set_xlabel(
        "herald / baseline in the same run (log scale; rates: higher is better, latency p99: lower is better;"
        " red: target missed)",
        fontsize=8,
    )
    axes.invert_yaxis()
    for y, ratio in enumerate(ratios):
        axes.text(ratio, y, f" x{ratio:.2f}", va="center", fontsize=8)
    figure.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOT, dpi=110)


def main() -> None:
    table = rows()
    # `make quality` writes its own section (bench/quality.py): kept as it is.
    kept = quality_section(DOC.read_text()) if DOC.exists() else ""
    DOC.write_text(render(table) + (f"\n{kept}" if kept else ""))
    plot(table)
    print(f"wrote {DOC.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
