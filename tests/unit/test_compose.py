"""compose/docker-compose.yml without a Docker engine: valid by the Compose Specification's
own JSON schema, and consistent with the image, the configuration and the herald CLI.

The same checks run on broken copies of the file, to show that each of them can fail.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from herald.cli import _parser
from notifiers.runner import build_receiver
from runtime.config import load_config
from tests.support.compose_schema import SchemaUnavailableError, schema_path

ROOT = Path(__file__).parents[2]
COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
HERALD_CONFIG = COMPOSE_DIR / "herald.compose.yaml"
CONFIG_IN_CONTAINER = "/etc/herald/herald.yaml"
THIRD_PARTY_IMAGES = ("apache/kafka:",)
"""Services running these images are not ours; every other service must be the herald image."""

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def _interpolated(value: Any) -> Any:
    """``${VAR:-default}`` as compose resolves it with nothing set, before it validates."""
    if isinstance(value, dict):
        return {key: _interpolated(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolated(item) for item in value]
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: "$" if m.group(0) == "$$" else (m.group(3) or ""), value)
    return value


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    try:
        path = schema_path()
    except SchemaUnavailableError as exc:
        pytest.fail(f"{exc}; run `python -m tests.support.compose_schema` (make setup does)")
    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def problems(text: str, validator: jsonschema.protocols.Validator) -> list[str]:
    """Everything wrong with a compose file's text (located under compose/), or nothing."""
    document = _interpolated(yaml.safe_load(text))  # anchors and << merges resolved, as compose does
    found = [
        f"schema: {'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
    for name, service in (document.get("services") or {}).items():
        if not str(service.get("image", "")).startswith(THIRD_PARTY_IMAGES):
            found += [f"{name}: {problem}" for problem in _herald_service_problems(service)]
    return found


def _herald_service_problems(service: dict[str, Any]) -> list[str]:
    out = []
    build = service.get("build") or {}
    context = (COMPOSE_DIR / str(build.get("context", "."))).resolve() if isinstance(build, dict) else None
    if context != ROOT or build.get("dockerfile") != "Dockerfile":
        out.append("not built from the repository's Dockerfile")
    if service.get("image") != "kube-herald:local":
        out.append(f"image {service.get('image')!r} is not kube-herald:local, the image built here")
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *_ = volume.split(":")
            mounts[target] = (COMPOSE_DIR / source).resolve()
    if mounts.get(CONFIG_IN_CONTAINER) != HERALD_CONFIG:
        out.append(f"does not mount {HERALD_CONFIG.name} at {CONFIG_IN_CONTAINER}")
    out += [f"mounts {source}, which does not exist" for source in mounts.values() if not source.exists()]
    return out + _command_problems(service.get("command"), mounts)


def _command_problems(command: Any, mounts: dict[str, Path]) -> list[str]:
    """The command must be a herald command line reading the mounted files."""
    if isinstance(command, str):
        command = shlex.split(command)
    if not isinstance(command, list):
        return ["has no command (the image's entrypoint is herald)"]
    try:
        args = _parser().parse_args([str(arg) for arg in command])
    except SystemExit:
        return [f"command {command} is not a valid herald command line"]
    out = []
    if str(args.config) != CONFIG_IN_CONTAINER:
        out.append(f"command reads {args.config}, not the mounted {CONFIG_IN_CONTAINER}")
    for option in ("events_file", "file"):
        path = getattr(args, option, None)
        if path is not None and str(path) not in mounts:
            out.append(f"command reads {path}, which is not mounted")
    receiver = getattr(args, "receiver", None)
    if receiver is not None:
        known = {entry.name for entry in load_config(HERALD_CONFIG, env={}).receivers}
        if receiver not in known:
            out.append(f"--receiver {receiver}: not a receiver in {HERALD_CONFIG.name}")
    return out


def test_compose_file_is_valid_and_consistent(validator: jsonschema.protocols.Validator) -> None:
    assert problems(COMPOSE_FILE.read_text(encoding="utf-8"), validator) == []


def test_the_image_runs_herald() -> None:
    """What makes a service's command a herald command line."""
    assert 'ENTRYPOINT ["herald"]' in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()


def test_every_stage_runs_in_compose() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    commands = {name: service.get("command", []) for name, service in services.items()}
    stages = {
        next((c for c in command if c in ("producer", "processor", "notifier")), None)
        for command in commands.values()
    }
    assert {"producer", "processor", "notifier"} <= stages


def test_compose_config_loads_and_builds_its_receivers() -> None:
    config = load_config(HERALD_CONFIG, env={})
    assert config.kafka.bootstrap_servers == "kafka:9092"
    assert config.producer is not None
    for entry in config.receivers:
        build_receiver(config, entry.name)


BROKEN = {
    "not a Compose key": (
        "    restart: unless-stopped\n\n  notifier:",
        "    restart: unless-stopped\n    restrat: always\n\n  notifier:",
        "schema: services.processor: Unevaluated properties are not allowed ('restrat' was unexpected)",
    ),
    "wrong type": ("interval: 5s", "interval: [5s]", "schema: services.kafka.healthcheck.interval:"),
    "bad depends_on condition": (
        "condition: service_healthy",
        "condition: when_ready",
        "schema: services.notifier.depends_on: {'kafka': {'condition': 'when_ready'}} is not valid",
    ),
    "misspelt subcommand": ('"notifier", "--receiver"', '"notifer", "--receiver"', "notifier: command"),
    "unknown receiver": (
        '"--receiver", "console"',
        '"--receiver", "wecom"',
        "--receiver wecom: not a receiver",
    ),
    "config not mounted": (
        "- ./herald.compose.yaml:/etc/herald/herald.yaml:ro",
        "- ./herald.compose.yaml:/etc/herald/other.yaml:ro",
        "processor: does not mount herald.compose.yaml at /etc/herald/herald.yaml",
    ),
    "another image": (
        "image: kube-herald:local",
        "image: kube-herald:latest",
        "producer: image 'kube-herald:latest'",
    ),
    "missing mount source": ("sample-events.jsonl:/etc", "sample-event.jsonl:/etc", "which does not exist"),
}


@pytest.mark.parametrize(("old", "new", "expected"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_copy_fails(
    old: str, new: str, expected: str, validator: jsonschema.protocols.Validator
) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the mutation no longer applies: {old!r}"
    found = problems(text.replace(old, new), validator)
    assert any(expected in problem for problem in found), found
