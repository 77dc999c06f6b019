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
    return [
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
        *processor_cpu_rows(),
        before_after_row(),
        throughput_row(
            "processor",
            "processor's own steps alone, one core (no Kafka, no Faust)",
            "steps alone",
            "(none: the worker's ceiling if streaming cost nothing)",
        ),
        throughput_row("notifier-receiver", "webhook send/s", "WebhookReceiver", "(none)"),
        throughput_row(
            "notifier-pipeline",
            "notifier incidents/s",
            "herald",
            ">= 0.7x the bare POST loop",
            lambda ratio, _: ratio >= 0.7,
        ),
        scaling_row(),
        *memory_rows(),
        *pipeline_rows(),
    ]


def processor_cpu_rows() -> list[Row]:
    """The one worker's CPU per event and its rate once running, beside the passthrough's."""
    cpu_figure, steady_figure = "processor CPU µs per event, one worker", "processor steady events/s"
    data = load("processor")
    if data is None or "cpu_us_per_event" not in data:
        return [Row(figure, "not run", "", None, "(none)", None) for figure in (cpu_figure, steady_figure)]
    cpu, steady = data["cpu_us_per_event"], data["steady_per_second"]
    return [
        Row(
            cpu_figure,
            f"{cpu['worker']:,.0f} µs ({cpu['worker_until_idle']:,.0f} µs with the aggregation tail)",
            f"{cpu['passthrough']:,.1f} µs (plain consume-produce passthrough)",
            data["cpu_ratio"],
            "(none; lower is better)",
            None,
        ),
        Row(
            steady_figure,
            f"{steady['worker']:,} /s",
            f"{steady['passthrough']:,} /s (plain consume-produce passthrough)",
            data["steady_ratio"],
            "(none; first to last output, start-up excluded)",
            None,
        ),
    ]


def before_after_row() -> Row:
    """The worker of the revision before the processors' reshape and this one's, alternated in one
    command on the same stream (bench/processor_ab.py): CPU per event until idle, medians."""
    figure = "processor CPU µs per event until idle, before and after issue 19 (same command)"
    data = load("processor-ab")
    if data is None:
        return Row(figure, "not run", "", None, "<= 120 µs per event", None)
    medians, runs = data["median_us"], data["cpu_us_per_event_until_idle"]
    return Row(
        figure,
        f"{medians['after']:,.0f} µs (runs: {', '.join(f'{us:,.0f}' for us in runs['after'])})",
        f"{medians['before']:,.0f} µs (worker at {data['before']}; runs: "
        + ", ".join(f"{us:,.0f}" for us in runs["before"])
        + ")",
        data["cpu_ratio_after_to_before"],
        "<= 120 µs per event",
        medians["after"] <= 120,
    )


def scaling_row() -> Row:
    one, two = load("processor"), load("processor-2-workers")
    if not (one and two):
        return Row("processor scaling, 1 -> 2 workers", "not run", "", None, "(none)", None)
    return Row(
        "processor scaling, 1 -> 2 workers",
        f"{herald_rate(two):,} /s",
        f"{herald_rate(one):,} /s (one worker)",
        herald_rate(two) / herald_rate(one),
        "(none; 2 cores shared with the broker)",
        None,
    )


def memory_rows() -> list[Row]:
    # The run with the most distinct occurrences in the dedup table says most about memory.
    runs = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("processor*.json"))]
    rss_source = max(
        (run for run in runs if "peak_rss_mb" in run), key=lambda run: run["events"], default=None
    )
    if not rss_source:
        return []
    peak = max(rss_source["peak_rss_mb"])
    return [
        Row(
            f"processor peak RSS at {rss_source['events']:,} distinct occurrences",
            f"{peak} MB",
            "",
            None,
            "<= 500 MB at 1,000,000",
            peak <= 500 if rss_source["events"] >= 1_000_000 else None,
        )
    ]


def pipeline_rows() -> list[Row]:
    pipeline = load("pipeline")
    if pipeline is None:
        return [
            Row("end-to-end latency", "not run", "", None, "p99 <= 500 ms at 1,000/s", None),
            Row("storm compression", "not run", "", None, "10,000 -> <= 3 messages", None),
            time_to_page_row(None),
        ]
    table = []
    for rate, figures in pipeline.get("latency", {}).items():
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
    storm = pipeline.get("storm")
    if storm is not None:
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
    return [*table, time_to_page_row(pipeline.get("time_to_page"))]


def time_to_page_row(result: dict[str, Any] | None) -> Row:
    """A new incident's time to page while the pipeline carries a storm, beside the plain loop's
    under the same background; met only if every new incident paged, a storm of 2,000/s was
    reached (95 %) in events.raw and p99 <= 1 s."""
    figure, target = "time to page a new incident under a 2,000/s storm (p50 / p95 / p99)", "p99 <= 1 s"
    if result is None or result["herald"]["arrived"] == 0:
        return Row(figure, "not run" if result is None else "none arrived", "", None, target, None)
    herald, plain = result["herald"], result["baseline"]
    figure = figure.replace("2,000", f"{result['background_rate']:,.0f}")

    def times(run: dict[str, Any]) -> str:
        paged = f"{run['arrived']}/{run['sent']} paged"
        return f"{run['p50_ms']:,} / {run['p95_ms']:,} / {run['p99_ms']:,} ms, {paged}"

    missed = herald["p99_ms"] > 1000 or herald["arrived"] < herald["sent"]
    reached = herald["raw_per_second_in_window"] >= 0.95 * max(result["background_rate"], 2000)
    return Row(
        figure,
        f"{times(herald)}; storm reached {herald['raw_per_second_in_window']:,}/s in events.raw",
        f"{times(plain)} (plain hop + POST, first message per workload, "
        f"{plain['background_per_second']:,}/s)",
        herald["p99_ms"] / max(plain.get("p99_ms", 0.1), 0.1),
        target,
        False if missed else (True if reached else None),
    )


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
    for module in ("producer_bench", "processor_bench", "processor_ab", "notifier_bench", "pipeline_bench"):
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
        "herald / baseline in the same run (log scale; rates: higher is better, latency p99 and CPU per"
        " event: lower is better; red: target missed)",
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
