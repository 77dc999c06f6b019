"""Where a process spends its CPU: py-spy samples, attributed to the layer that owns them.

The processor bench misses its target by an order of magnitude, and "Faust is slow" is not
an explanation. A sample is attributed to the innermost frame that belongs to a known layer
(herald's own code, Faust, aiokafka, the RocksDB store), so time spent in pydantic for
herald's validation counts as herald's, and a socket write for aiokafka counts as aiokafka's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("RocksDB table store", ("faust/stores/rocksdb.py", "rocksdict")),
    ("herald: validate, classify, dedup, aggregate", ("processors/", "schemas/", "runtime/")),
    ("aiokafka: produce and fetch protocol", ("aiokafka/",)),
    ("Faust: streams, tables, sends, commits", ("faust/", "mode/")),
)
EVENT_LOOP = "asyncio event loop (scheduling, selecting, no layer above it)"
OTHER = "other (interpreter, threads, metrics)"


def layer_of(frames: list[str]) -> str:
    """The layer of the innermost frame that has one (frames run outermost to innermost).

    asyncio is below every layer (a socket write for aiokafka is aiokafka's), so a sample
    is the event loop's only when no layer is on its stack.
    """
    for frame in reversed(frames):
        for layer, markers in LAYERS:
            if any(marker in frame for marker in markers):
                return layer
    return EVENT_LOOP if any("asyncio/" in frame or "selectors.py" in frame for frame in frames) else OTHER


def summarize(raw: Path, *, seconds: float, rate: int) -> dict[str, object]:
    """Shares of the samples per layer, and how busy the process was (samples / possible)."""
    layers: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            layers[layer_of(stack.split(";"))] += int(count)
    total = sum(layers.values())
    return {
        "samples": total,
        "busy": round(total / (seconds * rate), 3),
        "layers": {name: round(n / total, 3) for name, n in layers.most_common()} if total else {},
    }


def record(pid: int, seconds: float, out: Path, *, rate: int = 100) -> subprocess.Popen[bytes] | None:
    """Start py-spy on ``pid`` for ``seconds``; None (and a note) when py-spy is not installed."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy not installed (pip install -e '.[bench]'): no profile", file=sys.stderr)
        return None
    command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate)]
    command += ["--format", "raw", "--nonblocking", "--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
