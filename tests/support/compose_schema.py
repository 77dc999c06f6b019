"""The Compose Specification's JSON schema, fetched once and cached under .run/schemas/.

There is no Docker engine to ask, so compose/docker-compose.yml is checked against the
schema ``docker compose`` itself validates with: the one compose-go embeds
(``schema/compose-spec.json``), taken from the Go module proxy at a pinned version so a
new upstream schema cannot change a test run unannounced. ``make setup`` runs
``python -m tests.support.compose_schema``; the tests call :func:`schema_path`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MODULE = "github.com/compose-spec/compose-go/v2"
VERSION = "v2.16.2"
SCHEMA_IN_MODULE = Path("schema") / "compose-spec.json"
CACHE = Path(__file__).parents[2] / ".run" / "schemas" / f"compose-spec.{VERSION}.json"


class SchemaUnavailableError(RuntimeError):
    """The schema is neither cached nor fetchable; the message says what to do."""


def schema_path() -> Path:
    """The cached schema, fetched first if needed."""
    if not CACHE.exists():
        fetch()
    return CACHE


def fetch() -> Path:
    """Download compose-go into the Go module cache and copy its schema to :data:`CACHE`."""
    go = shutil.which("go")
    if go is None:
        raise SchemaUnavailableError(
            f"the Compose schema is not cached at {CACHE} and `go` is not installed to fetch it "
            f"({MODULE}@{VERSION} from the Go module proxy)"
        )
    with tempfile.TemporaryDirectory() as outside_any_module:
        result = subprocess.run(
            [go, "mod", "download", "-json", f"{MODULE}@{VERSION}"],
            cwd=outside_any_module,
            env={**os.environ, "GOFLAGS": "-mod=mod"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError:
        info = {}
    if result.returncode != 0 or "Dir" not in info:
        reason = info.get("Error") or result.stderr.strip() or f"exit code {result.returncode}"
        raise SchemaUnavailableError(f"go mod download {MODULE}@{VERSION} failed: {reason}")
    source = Path(info["Dir"]) / SCHEMA_IN_MODULE
    json.loads(source.read_text(encoding="utf-8"))  # a truncated copy must not be cached
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    partial = CACHE.with_suffix(".partial")
    shutil.copyfile(source, partial)
    partial.replace(CACHE)
    return CACHE


if __name__ == "__main__":
    try:
        print(schema_path())
    except SchemaUnavailableError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
