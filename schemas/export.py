"""Write (or check) the JSON Schema files that consumers outside this code base read.

``python -m schemas.export`` rewrites ``schemas/json/``; ``--check`` fails when the
committed files differ from the models, which keeps the two from drifting.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from schemas.base import TopicModel
from schemas.checkpoint import ProducerCheckpoint
from schemas.clean import CleanEvent
from schemas.deadletter import DeadLetter
from schemas.group import GroupInput
from schemas.incident import Incident
from schemas.nflog import NotifyLogEntry
from schemas.quarantine import QuarantineRecord
from schemas.raw import RawEnvelope
from schemas.silence import Silence

MODELS: tuple[type[TopicModel], ...] = (
    RawEnvelope,
    CleanEvent,
    Incident,
    Silence,
    NotifyLogEntry,
    QuarantineRecord,
    DeadLetter,
    ProducerCheckpoint,
    GroupInput,
)
JSON_DIR = Path(__file__).parent / "json"


def rendered() -> dict[str, str]:
    files = {}
    for model in MODELS:
        schema = model.model_json_schema(by_alias=True, mode="serialization")
        schema["$id"] = f"urn:kube-herald:schema:{model.SCHEMA}:v{model.VERSION}"
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        files[f"{model.SCHEMA}.v{model.VERSION}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the files are out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        path = JSON_DIR / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python -m schemas.export", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
