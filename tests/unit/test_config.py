from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config import PLACEHOLDER, PLACEHOLDER_URL, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "herald.yaml"
    path.write_text(text)
    return path


def test_defaults_need_no_file() -> None:
    config = load_config(None, env={})
    assert config.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert config.kafka.topics.raw == "herald.events.raw"


def test_errors_name_file_line_and_key_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kafka:\n  bootstrap_servers: x:1\n  partitons: 3\n"
        "producer:\n  cluster: Not_Valid\n"
        "processor:\n  web_port: abc\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    lines = str(caught.value).splitlines()
    assert f"{path}:3: kafka.partitons: unknown key (did you mean partitions?)" in lines
    assert any(line.startswith(f"{path}:5: producer.cluster: String should match pattern") for line in lines)
    assert any(line.startswith(f"{path}:7: processor.web_port:") for line in lines)
    assert len(caught.value.issues) == 3


def test_environment_interpolation_and_missing_variables(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  bootstrap_servers: ${BROKER}\n  topic_prefix: ${PREFIX:-dflt.}\n")
    config = load_config(path, env={"BROKER": "b:9"})
    assert config.kafka.bootstrap_servers == "b:9"
    assert config.kafka.topic_prefix == "dflt."
    with pytest.raises(
        ConfigError, match=r"herald.yaml:2: kafka.bootstrap_servers: environment variable BROKER"
    ):
        load_config(path, env={})


def test_env_overrides_point_every_process_at_one_broker(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  bootstrap_servers: a:1\n")
    config = load_config(path, env={"HERALD_KAFKA_BOOTSTRAP": "b:2", "HERALD_TOPIC_PREFIX": "t."})
    assert config.kafka.bootstrap_servers == "b:2"
    assert config.kafka.topic_prefix == "t."


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  sasl_password: [hunter2-secret]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert "hunter2" not in str(caught.value)


def test_receiver_sections_are_validated_with_located_errors(tmp_path: Path) -> None:
    from notifiers.runner import build_receiver

    path = write(tmp_path, "receivers:\n  - name: ops\n    type: webhook\n    urll: http://x\n")
    config = load_config(path, env={})
    with pytest.raises(ConfigError) as caught:
        build_receiver(config, "ops")
    text = str(caught.value)
    assert f"{path}:4: receivers[0].urll: unknown key" in text
    assert f"{path}:2: receivers[0].url: required key is missing" in text


def test_unknown_receiver_type_is_located(tmp_path: Path) -> None:
    from notifiers.runner import build_receiver

    path = write(tmp_path, "receivers:\n  - name: ops\n    type: pager\n")
    with pytest.raises(ConfigError, match=r"receivers\[0\].type: unknown type 'pager'"):
        build_receiver(load_config(path, env={}), "ops")


def test_a_receiver_sets_its_own_language_and_time_zone_defaulting_to_the_notifiers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "notifier: {language: zh, timezone: Asia/Shanghai}\n"
        "receivers:\n"
        "  - {name: cn, type: console}\n"
        "  - {name: us, type: console, language: en, timezone: America/Chicago}\n"
        "  - {name: half, type: console, timezone: Europe/Berlin}\n",
    )
    config = load_config(path, env={})
    assert config.locale("cn") == ("zh", "Asia/Shanghai")
    assert config.locale("us") == ("en", "America/Chicago")
    assert config.locale("half") == ("zh", "Europe/Berlin")
    assert "language" not in config.receivers[1].settings()  # not a key of the type's own model


def test_an_unknown_time_zone_or_language_is_located_at_its_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "notifier: {timezone: CST}\n"
        "receivers:\n  - {name: a, type: console, timezone: Mars/Base, language: fr}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    text = str(caught.value)
    assert f"{path}:1: notifier.timezone: unknown time zone 'CST' (did you mean Asia/Shanghai?)" in text
    assert f"{path}:3: receivers[0].timezone: unknown time zone 'Mars/Base': expected an IANA name" in text
    assert f"{path}:3: receivers[0].language:" in text


SECRETS_UNSET = (
    "kafka:\n  topic_prefix: ${PREFIX:-p.}\n"
    "receivers:\n"
    "  - {name: chat, type: wecom, url: '${ROBOT_URL}'}\n"
    "  - {name: ding, type: dingtalk, url: 'https://oapi.dingtalk.com/robot/send?access_token=${TOKEN}'}\n"
    "  - {name: out, type: console}\n"
)


def test_strict_loading_reports_an_unset_receiver_secret(tmp_path: Path) -> None:
    path = write(tmp_path, SECRETS_UNSET)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert [str(issue) for issue in caught.value.issues] == [
        f"{path}:4: receivers[0].url: environment variable ROBOT_URL is not set",
        f"{path}:5: receivers[1].url: environment variable TOKEN is not set",
    ]


def test_lenient_loading_stands_placeholders_for_receivers_secrets(tmp_path: Path) -> None:
    """Commands that deliver nothing load the file without the receivers' secrets; a receiver
    built for delivery requires its own, and only its own."""
    config = load_config(write(tmp_path, SECRETS_UNSET), env={}, mode="lenient")
    assert config.receivers[0].settings()["url"] == PLACEHOLDER_URL
    assert config.receivers[1].settings()["url"].endswith(f"access_token={PLACEHOLDER}")
    assert [issue.message for issue in config.unset_secrets("chat")] == [
        "environment variable ROBOT_URL is not set"
    ]
    with pytest.raises(ConfigError, match=r"receivers\[1\]\.url: environment variable TOKEN is not set"):
        config.require_secrets("ding")
    config.require_secrets("out")


def test_lenient_loading_still_requires_variables_outside_receivers(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  bootstrap_servers: ${BROKER}\nreceivers: []\n")
    with pytest.raises(
        ConfigError, match=r"kafka\.bootstrap_servers: environment variable BROKER is not set"
    ):
        load_config(path, env={}, mode="lenient")


def test_check_mode_collects_every_problem_and_keeps_the_valid_sections(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kafka:\n  topic_prefix: ok.\n"
        "processor:\n  group_wait_seconds: 2m\n  min_severty: info\n"
        "receivers:\n  - {name: chat, type: wecom, url: '${ROBOT_URL}'}\n"
        "route: {receiver: caht}\n",
    )
    config = load_config(path, env={}, mode="check")
    assert [str(issue) for issue in config.problems] == [
        f"{path}:4: processor.group_wait_seconds: expected a number without a unit (got '2m': write 120, "
        "in seconds)",
        f"{path}:5: processor.min_severty: unknown key (did you mean min_severity?)",
        f"{path}:7: receivers[0].url: environment variable ROBOT_URL is not set",
        f"{path}:8: route.receiver: must name one of the receivers: chat (did you mean chat?) (got 'caht')",
    ]
    assert config.kafka.topic_prefix == "ok."
    assert config.processor.group_wait_seconds == 30.0  # the section with errors keeps its defaults
    assert config.receivers[0].settings()["url"] == PLACEHOLDER_URL
