"""Fast takeover's pure parts: where a replica's group instance id comes from, and a
notification log that never steps back to an older version."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from herald.cli import _parser, _with_instance_id
from notifiers.state import NotificationLog, log_key
from runtime.config import ConfigError, NotifierSettings, ProcessorSettings, instance_id_from_env, load_config
from schemas import NotifyLogEntry, Outcome, encode


def test_the_pod_name_comes_first_then_the_host_name() -> None:
    pod = "herald-notifier-wecom-5d9c8b-x2kqb"
    assert instance_id_from_env({"POD_NAME": pod, "HOSTNAME": "other"}) == pod
    assert instance_id_from_env({"POD_NAME": " ", "HOSTNAME": pod}) == pod
    assert instance_id_from_env({}) is None


def test_both_stages_default_to_the_environments_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "pod-7")
    assert NotifierSettings().instance_id == "pod-7"
    assert ProcessorSettings().instance_id == "pod-7"
    monkeypatch.delenv("POD_NAME")
    monkeypatch.delenv("HOSTNAME", raising=False)
    assert NotifierSettings().instance_id is None, "no id anywhere: a dynamic member"


def test_null_in_the_file_makes_a_dynamic_member_and_a_bad_id_is_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POD_NAME", "pod-7")
    path = tmp_path / "herald.yaml"
    path.write_text("notifier:\n  instance_id: null\nprocessor:\n  session_timeout_seconds: 20\n")
    config = load_config(path, env={})
    assert config.notifier.instance_id is None
    assert (config.processor.instance_id, config.processor.session_timeout_seconds) == ("pod-7", 20)
    path.write_text("notifier:\n  instance_id: not allowed/here\n")
    with pytest.raises(ConfigError, match=r"herald.yaml:2: notifier.instance_id: String should match"):
        load_config(path, env={})


@pytest.mark.parametrize("stage", ["notifier", "processor"])
def test_the_flag_overrides_the_environment(stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "pod-7")
    config = load_config(None, env={})
    extra = ["--receiver", "hook"] if stage == "notifier" else []
    args = _parser().parse_args([stage, *extra, "--instance-id", "replica-b"])
    applied = _with_instance_id(config, stage, args.instance_id)
    assert getattr(applied, stage).instance_id == "replica-b"
    assert _with_instance_id(config, stage, None) is config
    with pytest.raises(ConfigError, match=rf"{stage}.instance_id"):
        _with_instance_id(config, stage, "white space")


def entry(version: int) -> NotifyLogEntry:
    return NotifyLogEntry(
        receiver="chat",
        fingerprint="00000000000000aa",
        version=version,
        outcome=Outcome.DELIVERED,
        at=datetime(2026, 11, 27, tzinfo=UTC),
        delivered_version=version,
    )


def test_the_log_never_steps_back_to_an_older_version() -> None:
    log = NotificationLog()
    key = log_key("chat", "00000000000000aa")
    log.put(key, entry(5))  # recorded by this replica
    log.on_record(key.encode(), encode(entry(3)))  # its reader, behind, replays an earlier entry
    current = log.entry("chat", "00000000000000aa")
    assert current is not None
    assert current.version == 5
    log.on_record(key.encode(), encode(entry(6)))
    assert log.entry("chat", "00000000000000aa") == entry(6)
    log.on_record(key.encode(), None)  # a tombstone still deletes
    assert log.entry("chat", "00000000000000aa") is None
