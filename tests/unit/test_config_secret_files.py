"""``<name>_file`` secrets, Kafka security settings and receiver names in the config file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from notifiers.receivers.dingtalk import DingTalkConfig
from notifiers.receivers.email import EmailConfig
from notifiers.receivers.webhook import WebhookConfig
from runtime.config import ConfigError, HeraldConfig, KafkaSettings, load_config

SASL = "kafka:\n  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-512\n  sasl_username: herald\n"
PASSWORD = "s3cr3t-kafka-password"
HOOK = "https://hooks.example.com/T000/B000/abcdefghijklmnopqrstuvwx"


def write(directory: Path, text: str, name: str = "herald.yaml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_a_secret_file_is_read_with_its_trailing_newline_stripped(tmp_path: Path) -> None:
    secret = write(tmp_path, f"{PASSWORD}\n", "kafka-password")
    config = load_config(write(tmp_path, f"{SASL}  sasl_password_file: {secret}\n"), env={})
    assert config.kafka.sasl_password == SecretStr(PASSWORD)
    assert config.kafka.librdkafka()["sasl.password"] == PASSWORD


def test_a_relative_secret_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    write(tmp_path / "secrets", f"{PASSWORD}\r\n", "kafka")
    config = load_config(write(tmp_path, f"{SASL}  sasl_password_file: secrets/kafka\n"), env={})
    assert config.kafka.sasl_password == SecretStr(PASSWORD)


def test_the_secret_read_from_a_file_is_not_in_repr(tmp_path: Path) -> None:
    secret = write(tmp_path, PASSWORD, "kafka-password")
    config = load_config(write(tmp_path, f"{SASL}  sasl_password_file: {secret}\n"), env={})
    assert PASSWORD not in repr(config)
    assert PASSWORD not in str(config)
    assert PASSWORD not in repr(config.kafka)


def test_a_missing_secret_file_is_a_located_error_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, f"{SASL}  sasl_password_file: /nonexistent/kafka-password\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert [str(issue) for issue in caught.value.issues] == [
        f"{path}:5: kafka.sasl_password_file: cannot read /nonexistent/kafka-password: "
        "No such file or directory"
    ]


def test_an_unreadable_or_empty_secret_file_is_located_and_never_quoted(tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    write(tmp_path, "\n", "empty")
    (tmp_path / "binary").write_bytes(b"\xff\xfe" + PASSWORD.encode())
    for name, expected in (
        ("a-directory", "cannot read"),
        ("empty", "is empty"),
        ("binary", "is not UTF-8 text"),
    ):
        path = write(tmp_path, f"{SASL}  sasl_password_file: {name}\n")
        with pytest.raises(ConfigError) as caught:
            load_config(path, env={})
        (issue,) = caught.value.issues
        assert issue.path == ("kafka", "sasl_password_file")
        assert issue.line == 5
        assert expected in issue.message
        assert PASSWORD not in str(caught.value)


def test_a_secret_and_its_file_together_is_an_error(tmp_path: Path) -> None:
    secret = write(tmp_path, PASSWORD, "kafka-password")
    path = write(tmp_path, f"{SASL}  sasl_password: other\n  sasl_password_file: {secret}\n")
    with pytest.raises(ConfigError, match=r"herald.yaml:6: kafka.sasl_password_file: set either"):
        load_config(path, env={})


def test_file_of_a_setting_that_is_no_secret_is_an_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  bootstrap_servers_file: /etc/hostname\n")
    with pytest.raises(ConfigError, match=r"herald.yaml:2: kafka.bootstrap_servers_file: unknown key"):
        load_config(path, env={})


def test_receiver_secrets_from_files_are_read_by_the_receiver_model(tmp_path: Path) -> None:
    write(tmp_path, f"{HOOK}\n", "hook-url")
    path = write(
        tmp_path,
        "receivers:\n  - name: ops\n    type: webhook\n    url_file: hook-url\n"
        "    headers: {Authorization: hunter2-in-header}\n",
    )
    config = load_config(path, env={})
    assert "url_file" in config.receivers[0].model_dump()  # read by the stage that knows it is a secret
    settings = config.validate_section(("receivers", 0), WebhookConfig, config.receivers[0].model_dump())
    assert settings.url.get_secret_value() == HOOK
    assert HOOK not in repr(settings)


def test_a_receiver_key_that_only_ends_in_file_keeps_its_meaning(tmp_path: Path) -> None:
    """``ca_file`` is a path the email receiver opens itself, not a secret called ``ca``."""
    ca = write(tmp_path, "-----BEGIN CERTIFICATE-----\n", "ca.pem")
    write(tmp_path, "mail-password\n", "smtp-password")
    path = write(
        tmp_path,
        "receivers:\n  - name: mail\n    type: email\n    smarthost: smtp.example.com\n"
        f"    ca_file: {ca}\n    username: u\n    password_file: smtp-password\n"
        "    sender: a@example.com\n    to: [b@example.com]\n",
    )
    config = load_config(path, env={})
    settings = config.validate_section(("receivers", 0), EmailConfig, config.receivers[0].model_dump())
    assert settings.ca_file == ca
    assert settings.password == SecretStr("mail-password")


def test_invalid_content_of_a_receiver_secret_file_is_located_at_its_key_and_not_quoted(
    tmp_path: Path,
) -> None:
    token_less = "https://oapi.dingtalk.com/robot/send?nothing=leaked-value-1234567890"
    write(tmp_path, token_less, "ding")
    path = write(tmp_path, "receivers:\n  - name: ops\n    type: dingtalk\n    url_file: ding\n")
    config = load_config(path, env={})
    with pytest.raises(ConfigError) as caught:
        config.validate_section(("receivers", 0), DingTalkConfig, config.receivers[0].model_dump())
    (issue,) = caught.value.issues
    assert str(issue).startswith(f"{path}:4: receivers[0].url_file: Value error")
    assert "content of the file" in issue.message
    assert "leaked-value" not in str(caught.value)


def test_a_missing_receiver_secret_file_is_the_only_error_reported(tmp_path: Path) -> None:
    """Not also ``url: required``: that would only repeat the file's problem."""
    path = write(tmp_path, "receivers:\n  - name: ops\n    type: webhook\n    url_file: nope\n")
    config = load_config(path, env={})
    with pytest.raises(ConfigError) as caught:
        config.validate_section(("receivers", 0), WebhookConfig, config.receivers[0].model_dump())
    assert [str(issue) for issue in caught.value.issues] == [
        f"{path}:4: receivers[0].url_file: cannot read {tmp_path / 'nope'}: No such file or directory"
    ]


def test_sasl_protocols_need_their_credentials(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  security_protocol: SASL_PLAINTEXT\n  sasl_username: u\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert {(issue.path, issue.line) for issue in caught.value.issues} == {
        (("kafka", "sasl_mechanism"), 1),
        (("kafka", "sasl_password"), 1),
    }
    assert all("required with security_protocol SASL_PLAINTEXT" in i.message for i in caught.value.issues)


def test_settings_the_protocol_ignores_are_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path, "kafka:\n  sasl_username: u\n  sasl_password: pw-not-shown\n  ssl_ca_location: /ca\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    text = str(caught.value)
    assert (
        f"{path}:2: kafka.sasl_username: only used with security_protocol SASL_PLAINTEXT or SASL_SSL" in text
    )
    assert f"{path}:3: kafka.sasl_password: only used with" in text
    assert f"{path}:4: kafka.ssl_ca_location: only used with security_protocol SSL or SASL_SSL" in text
    assert "pw-not-shown" not in text


def test_ssl_settings_map_to_librdkafka_keys() -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="u",
        sasl_password=SecretStr("p"),
        ssl_ca_location="/ca.pem",
        ssl_certificate_location="/client.pem",
        ssl_key_location="/client.key",
        ssl_key_password=SecretStr("kp"),
        ssl_check_hostname=False,
    )
    assert kafka.librdkafka() == {
        "bootstrap.servers": "127.0.0.1:19092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "u",
        "sasl.password": "p",
        "ssl.ca.location": "/ca.pem",
        "ssl.certificate.location": "/client.pem",
        "ssl.key.location": "/client.key",
        "ssl.key.password": "kp",
        "ssl.endpoint.identification.algorithm": "none",
    }
    assert HeraldConfig().kafka.librdkafka() == {
        "bootstrap.servers": "127.0.0.1:19092",
        "security.protocol": "PLAINTEXT",
    }


def test_a_client_certificate_needs_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  security_protocol: SSL\n  ssl_certificate_location: /c.pem\n")
    with pytest.raises(ConfigError, match=r"kafka.ssl_key_location: a client certificate needs both"):
        load_config(path, env={})


def test_receiver_names_are_unique(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "receivers:\n  - {name: ops, type: console}\n  - {name: dev, type: console}\n"
        "  - {name: ops, type: console}\n",
    )
    with pytest.raises(ConfigError, match=r"herald.yaml:4: receivers\[2\].name: receivers\[0\] already has"):
        load_config(path, env={})
