"""The docs name every topic the code creates, with its key."""

from __future__ import annotations

from pathlib import Path

from schemas import TOPIC_SPECS

ARCHITECTURE = Path(__file__).parents[2] / "docs" / "architecture.md"


def test_every_topic_is_documented() -> None:
    text = ARCHITECTURE.read_text()
    for spec in TOPIC_SPECS:
        assert f"| `{spec.suffix}` |" in text, f"docs/architecture.md lacks topic {spec.suffix}"
