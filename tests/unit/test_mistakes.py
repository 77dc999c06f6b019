"""Every common mistake is one located line and exit 2, never a traceback (issue 18).

Each row is a mistake a user makes (a time zone Python does not know, a kubeconfig context
that is not there, a broker that does not answer, a port already taken, ...), run the way the
user runs it: ``python -m herald ...`` in a subprocess. The exact first line of stderr is
asserted, with exit status 2 and no "Traceback". The rows run concurrently, so the whole
table costs about one process start; no broker or cluster is needed (the unreachable broker
is a closed local port, given a one-second bounded wait).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: not-a-secret}
contexts:
- name: dev
  context: {cluster: a, user: u}
- name: prod
  context: {cluster: a, user: u}
current-context: dev
"""

CONSOLE = "receivers:\n  - name: ops\n    type: console\n  - name: chat\n    type: console\n"
BROKER = "kafka:\n  bootstrap_servers: 127.0.0.1:{closed}\n  admin_timeout_seconds: 1\n"
UNANSWERED = (
    "kafka: no broker answered at 127.0.0.1:{closed} for 1 s (Connection refused); "
    "check kafka.bootstrap_servers and that the broker runs"
)


@dataclass(frozen=True)
class Mistake:
    """``config`` is herald.yaml's text; ``{dir}``, ``{closed}`` and ``{taken}`` in it, in
    ``args`` and in ``first_line`` are the test's directory, a port nobody listens on and a
    port another socket holds; ``{config}`` in ``first_line`` is herald.yaml's path."""

    config: str
    args: tuple[str, ...]
    first_line: str
    env: dict[str, str] = field(default_factory=dict)


MISTAKES = {
    "time zone Asia/Beijing": Mistake(
        "notifier:\n  timezone: Asia/Beijing\n" + CONSOLE,
        ("render", "--receiver", "ops"),
        "{config}:2: notifier.timezone: unknown time zone 'Asia/Beijing' (did you mean Asia/Shanghai?)",
    ),
    "time zone Asia/Shangai": Mistake(
        "notifier:\n  timezone: Asia/Shangai\n" + CONSOLE,
        ("notifier", "--receiver", "ops"),
        "{config}:2: notifier.timezone: unknown time zone 'Asia/Shangai' (did you mean Asia/Shanghai?)",
    ),
    "time zone UTC+8": Mistake(
        "notifier:\n  timezone: UTC+8\n",
        ("silence", "ls"),
        "{config}:2: notifier.timezone: unknown time zone 'UTC+8' (did you mean Asia/Shanghai?)",
    ),
    "a receiver's time zone misspelt": Mistake(
        CONSOLE + "    timezone: Europe/Berln\n",
        ("render", "--receiver", "chat"),
        "{config}:6: receivers[1].timezone: unknown time zone 'Europe/Berln' (did you mean Europe/Berlin?)",
    ),
    "render --timezone Asia/Beijing": Mistake(
        CONSOLE,
        ("render", "--receiver", "ops", "--timezone", "Asia/Beijing"),
        "herald render: --timezone: unknown time zone 'Asia/Beijing' (did you mean Asia/Shanghai?)",
    ),
    "kubeconfig file missing": Mistake(
        "producer:\n  clusters:\n    - cluster: c1\n      kubeconfig: {dir}/missing\n",
        ("producer",),
        "{config}:4: producer.clusters[0].kubeconfig: kubeconfig {dir}/missing: no such file",
    ),
    "no kubeconfig at all": Mistake(
        "producer:\n  cluster: c1\n",
        ("producer",),
        "{config}:2: producer.cluster: kubeconfig ~/.kube/config: no such file "
        "($KUBECONFIG is not set either)",
    ),
    "kubeconfig that is no kubeconfig": Mistake(
        "producer:\n  clusters:\n    - cluster: c1\n      kubeconfig: {dir}/herald.yaml\n",
        ("producer",),
        "{config}:4: producer.clusters[0].kubeconfig: kubeconfig {dir}/herald.yaml is not valid: "
        "Invalid kube-config file. Expected key current-context in {dir}/herald.yaml",
    ),
    "kubeconfig context that does not exist": Mistake(
        "producer:\n  clusters:\n    - cluster: c1\n      kubeconfig: {dir}/kubeconfig\n"
        "      context: my-context\n",
        ("producer",),
        "{config}:5: producer.clusters[0].context: no context 'my-context' in kubeconfig "
        "{dir}/kubeconfig (contexts there: dev, prod)",
    ),
    "in_cluster outside a pod": Mistake(
        "producer:\n  clusters:\n    - cluster: c1\n      in_cluster: true\n",
        ("producer",),
        "{config}:4: producer.clusters[0].in_cluster: this process is not in a pod "
        "(KUBERNETES_SERVICE_HOST is not set): outside a cluster, set kubeconfig and context instead "
        "of in_cluster",
    ),
    "migrate with a context that does not exist": Mistake(
        "",
        (
            "migrate",
            "kube-eventer",
            "deploy/kube-eventer",
            "--kubeconfig",
            "{dir}/kubeconfig",
            "--context",
            "my-context",
            "-o",
            "{dir}/out",
        ),
        "herald migrate kube-eventer: no context 'my-context' in kubeconfig {dir}/kubeconfig "
        "(contexts there: dev, prod)",
    ),
    "kube-eventer ConfigMap read with a context that does not exist": Mistake(
        "receivers:\n  - name: hook\n    type: kube_eventer\n"
        '    sink: "webhook:http://127.0.0.1:9/x?custom_body_configmap=body'
        '&custom_body_configmap_namespace=default"\n'
        "    kubeconfig: {dir}/kubeconfig\n    kube_context: my-context\n",
        ("render", "--receiver", "hook"),
        "{config}:4: receivers[0].sink: custom_body_configmap: cannot read ConfigMap default/body "
        "(or give it as custom_body_manifest): no context 'my-context' in kubeconfig {dir}/kubeconfig "
        "(contexts there: dev, prod)",
    ),
    "broker unreachable: topics verify": Mistake(BROKER, ("topics", "verify", "--timeout", "1"), UNANSWERED),
    "broker unreachable: silence ls": Mistake(BROKER, ("silence", "ls"), UNANSWERED),
    "broker unreachable: silence add": Mistake(BROKER, ("silence", "add", "namespace=shop"), UNANSWERED),
    "broker unreachable: tail": Mistake(BROKER, ("tail",), UNANSWERED),
    "unknown receiver: notifier": Mistake(
        CONSOLE,
        ("notifier", "--receiver", "nope"),
        "{config}:1: receivers: no receiver named 'nope' (configured: ops, chat)",
    ),
    "unknown receiver: render": Mistake(
        CONSOLE,
        ("render", "--receiver", "nope"),
        "{config}:1: receivers: no receiver named 'nope' (configured: ops, chat)",
    ),
    "metrics port in use": Mistake(
        "producer:\n  cluster: c1\n  metrics_port: {taken}\n",
        ("producer",),
        "producer.metrics_port: port {taken} is in use by another process",
    ),
    "broken template at render": Mistake(
        "notifier:\n  templates_dir: {dir}/templates\n" + CONSOLE,
        ("render", "--receiver", "ops"),
        "{config}: receivers[0] (ops): template 'text.j2' failed at line 1: "
        "unexpected end of template, expected 'end of print statement'.",
    ),
    "broken link template at notifier": Mistake(
        'notifier:\n  link_template: "https://grafana/{{{{ incident.fingerprint "\n' + CONSOLE,
        ("notifier", "--receiver", "ops"),
        "{config}:2: notifier.link_template: the link template at line 1: "
        "unexpected end of template, expected 'end of print statement'.",
    ),
}


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stderr: str
    expected: str


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Every mistake run at once, each in its own directory, while a socket holds ``{taken}``."""
    closed = _closed_port()
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))  # where serve_health binds
        holder.listen()
        taken = holder.getsockname()[1]
        runs = {}
        for name, mistake in MISTAKES.items():
            directory = tmp_path_factory.mktemp("mistake")
            runs[name] = _prepare(directory, mistake, closed=closed, taken=taken)
        with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 2)) as pool:
            futures = {name: pool.submit(_run, *run[:2]) for name, run in runs.items()}
            yield {name: Outcome(*futures[name].result(), expected=runs[name][2]) for name in runs}


def _closed_port() -> int:
    """A local port nobody listens on: one the kernel just gave out, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _prepare(
    directory: Path, mistake: Mistake, *, closed: int, taken: int
) -> tuple[list[str], dict[str, str], str]:
    """The command, its environment and the expected first line, with the files in place."""
    config = directory / "herald.yaml"
    values = {"dir": str(directory), "closed": str(closed), "taken": str(taken), "config": str(config)}
    config.write_text(mistake.config.format(**values), encoding="utf-8")
    (directory / "kubeconfig").write_text(KUBECONFIG, encoding="utf-8")
    (directory / "templates").mkdir()
    (directory / "templates" / "text.j2").write_text("{{ incident.title \n", encoding="utf-8")
    (directory / "home").mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HERALD_", "KUBERNETES_")) and key != "KUBECONFIG"
    }
    env |= {"HOME": str(directory / "home"), **mistake.env}
    args = [arg.format(**values) for arg in mistake.args]
    command = [sys.executable, "-m", "herald", *(["-c", str(config)] if mistake.config else []), *args]
    return command, env, mistake.first_line.format(**values)


def _run(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = subprocess.run(  # our own interpreter and arguments
        command, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    return result.returncode, result.stderr


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_is_one_located_line_and_exit_2(mistake: str, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[mistake]
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.stderr.splitlines()[:1] == [outcome.expected], outcome.stderr
    assert outcome.returncode == 2, outcome.stderr


def test_check_config_reports_a_time_zone_with_its_suggestion(tmp_path: Path) -> None:
    """``check-config`` collects every problem under its heading; the time zone is among them."""
    config = tmp_path / "herald.yaml"
    config.write_text("notifier:\n  timezone: Asia/Beijing\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERALD_")}
    code, stderr = _run([sys.executable, "-m", "herald", "-c", str(config), "check-config", "--quiet"], env)
    assert "Traceback" not in stderr
    assert (
        f"{config}:2: notifier.timezone: unknown time zone 'Asia/Beijing' (did you mean Asia/Shanghai?)"
        in (stderr.splitlines())
    )
    assert code == 2


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("Asia/Beijing", "Asia/Shanghai"),
        ("Beijing", "Asia/Shanghai"),
        ("China", "Asia/Shanghai"),
        ("CST", "Asia/Shanghai"),
        ("UTC+8", "Asia/Shanghai"),
        ("GMT+8", "Asia/Shanghai"),
        ("UTC+08:00", "Asia/Shanghai"),
        ("Asia/Shangai", "Asia/Shanghai"),
        ("asia/shanghai", "Asia/Shanghai"),
        ("America/NewYork", "America/New_York"),
        ("Asia/Bangalore", None),
    ],
)
def test_a_time_zone_mistake_suggests_the_zone_meant(written: str, meant: str | None) -> None:
    from runtime.config import ZONE_MISTAKES, is_time_zone, time_zone_problem

    assert not is_time_zone(written)
    expected = (
        f"unknown time zone {written!r} (did you mean {meant}?)"
        if meant
        else f"unknown time zone {written!r}: expected an IANA name such as Asia/Shanghai or UTC"
    )
    assert time_zone_problem(written) == expected
    assert all(is_time_zone(zone) for zone in ZONE_MISTAKES.values())
    assert is_time_zone("Asia/Chongqing"), "valid (an alias of Asia/Shanghai): never refused"
