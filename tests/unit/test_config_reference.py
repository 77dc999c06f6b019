"""docs/configuration.md is generated from the config models: it is current, complete, and
every option has a description, so a new one cannot ship undocumented."""

from __future__ import annotations

from pathlib import Path

import pytest

from herald import config_reference
from notifiers.receivers import REGISTRY
from notifiers.runner import build_receiver
from runtime.config import HeraldConfig, load_config


def test_committed_reference_is_current() -> None:
    assert config_reference.DOC.read_text(encoding="utf-8") == config_reference.render(), (
        f"docs/configuration.md is stale: run {config_reference.COMMAND}"
    )


def test_every_field_has_a_description() -> None:
    """Receiver models' ``name`` and ``type`` are documented once, by ReceiverEntry."""
    assert config_reference.undocumented() == []


def test_every_key_path_is_listed() -> None:
    paths = {row.path for section in config_reference.sections() for row in section.rows}
    for name, info in HeraldConfig.model_fields.items():
        if name != "receivers":
            assert any(path.startswith(f"{info.alias or name}.") for path in paths), name
    assert {"kafka.security_protocol", "kafka.sasl_password", "route.routes[].matchers"} <= paths
    for kind, factory in REGISTRY.items():
        own = set(factory.config_model.model_fields) - {"name", "type"}
        assert {f"receivers[].{key}" for key in own} <= paths, kind


def test_secrets_name_their_file_form() -> None:
    rows = {row.path: row for section in config_reference.sections() for row in section.rows}
    assert rows["kafka.sasl_password"].secret == "yes; or `sasl_password_file`"
    assert rows["kafka.sasl_username"].secret == ""
    assert rows["receivers[].ca_file"].secret == ""  # ends in _file, is no secret


def test_check_fails_when_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text(config_reference.render().replace("kafka.partitions", "kafka.partitons"))
    monkeypatch.setattr(config_reference, "DOC", stale)
    assert config_reference.main(["--check"]) == 1
    assert f"out of date; run {config_reference.COMMAND}" in capsys.readouterr().err
    assert config_reference.main([]) == 0
    assert config_reference.main(["--check"]) == 0


def test_minimal_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text(config_reference.MINIMAL_EXAMPLE)
    config = load_config(
        path, env={"WECOM_ROBOT_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}
    )
    for entry in config.receivers:
        build_receiver(config, entry.name)
    assert "```yaml\n" + config_reference.MINIMAL_EXAMPLE in config_reference.render()
