"""``herald check-config`` as a user runs it: every mistake located, no secret ever printed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import herald_command

MASK = "**********"

KAFKA_PASSWORD = "kafka-sasl-password-0001"
KEY_PASSWORD = "ssl-key-passphrase-0002"
WEBHOOK_TOKEN = "webhookpathtoken0003"
WEBHOOK_HEADER = "Bearer header-token-0004"
DINGTALK_TOKEN = "dingtalkaccesstoken0005"
DINGTALK_SECRET = "SECdingtalksigningsecret0006"
WECOM_KEY = "wecom-robot-key-0007-aaaa"
FEISHU_TOKEN = "feishuhooktoken0008"
SLACK_TOKEN = "slackhooktoken0009abcd"
TEAMS_SIG = "teamssignature0010abcd"
SMTP_PASSWORD = "smtp-password-0011"
CORP_SECRET = "wecom-corp-secret-0012"
SINK_TOKEN = "sinkaccesstoken0013abcd"
EVERY_SECRET = (
    KAFKA_PASSWORD,
    KEY_PASSWORD,
    WEBHOOK_TOKEN,
    WEBHOOK_HEADER,
    DINGTALK_TOKEN,
    DINGTALK_SECRET,
    WECOM_KEY,
    FEISHU_TOKEN,
    SLACK_TOKEN,
    TEAMS_SIG,
    SMTP_PASSWORD,
    CORP_SECRET,
    SINK_TOKEN,
)


def check_config(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERALD_")}
    return subprocess.run(
        herald_command(config, "check-config", *args),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def every_secret_kind(directory: Path) -> Path:
    """A config with each kind of secret kube-herald knows, inline, from ${ENV} and from files."""
    (directory / "kafka-password").write_text(f"{KAFKA_PASSWORD}\n")
    (directory / "dingtalk-url").write_text(
        f"https://oapi.dingtalk.com/robot/send?access_token={DINGTALK_TOKEN}\n"
    )
    (directory / "smtp-password").write_text(SMTP_PASSWORD)
    data: dict[str, Any] = {
        "kafka": {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "herald",
            "sasl_password_file": "kafka-password",
            "ssl_ca_location": "/etc/kafka/ca.pem",
            "ssl_certificate_location": "/etc/kafka/client.pem",
            "ssl_key_location": "/etc/kafka/client.key",
            "ssl_key_password": KEY_PASSWORD,
        },
        "producer": {"cluster": "prod-eu-1"},
        "receivers": [
            {
                "name": "hook",
                "type": "webhook",
                "url": f"https://hooks.example.com/in/{WEBHOOK_TOKEN}",
                "headers": {"Authorization": WEBHOOK_HEADER},
            },
            {"name": "ding", "type": "dingtalk", "url_file": "dingtalk-url", "secret": DINGTALK_SECRET},
            {
                "name": "wecom",
                "type": "wecom",
                "url": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}",
            },
            {
                "name": "feishu",
                "type": "feishu",
                "url": f"https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
            },
            {
                "name": "slack",
                "type": "slack",
                "url": f"https://hooks.slack.com/services/T0/B0/{SLACK_TOKEN}",
            },
            {
                "name": "teams",
                "type": "teams",
                "url": f"https://prod.example.logic.azure.com/workflows/1/triggers/m/run?sp=x&sig={TEAMS_SIG}",
            },
            {
                "name": "mail",
                "type": "email",
                "smarthost": "smtp.example.com",
                "username": "alerts",
                "password_file": str(directory / "smtp-password"),
                "sender": "alerts@example.com",
                "to": ["oncall@example.com"],
            },
            {
                "name": "app",
                "type": "wecom_app",
                "corp_id": "ww123",
                "corp_secret": "${CORP_SECRET}",
                "agent_id": 1000002,
                "to_user": ["@all"],
            },
            {
                "name": "legacy",
                "type": "kube_eventer",
                "sink": f"dingtalk:https://oapi.dingtalk.com/robot/send?access_token={SINK_TOKEN}&label=prod",
            },
        ],
    }
    path = directory / "herald.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_prints_the_effective_config_with_every_secret_masked(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("CORP_SECRET", CORP_SECRET)
    result = check_config(every_secret_kind(tmp_path))
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    for secret in EVERY_SECRET:
        assert secret not in output
    effective = yaml.safe_load(result.stdout)
    assert effective["kafka"]["sasl_password"] == MASK
    assert effective["kafka"]["ssl_key_password"] == MASK
    receivers = {entry["name"]: entry for entry in effective["receivers"]}
    for name in ("hook", "ding", "wecom", "feishu", "slack", "teams"):
        assert receivers[name]["url"] == MASK, name
    assert receivers["hook"]["headers"] == {"Authorization": MASK}
    assert receivers["ding"]["secret"] == MASK
    assert receivers["mail"]["password"] == MASK
    assert receivers["app"]["corp_secret"] == MASK
    assert receivers["legacy"]["sink"] == MASK
    assert not any(
        key.endswith("_file") and key != "ca_file" for entry in receivers.values() for key in entry
    )
    # Defaults filled in, from the shared sections and the receivers' own models.
    assert effective["kafka"]["partitions"] == 6
    assert effective["notifier"]["retry_budget_seconds"] == 600.0
    assert receivers["ding"]["msgtype"] == "markdown"
    assert receivers["mail"]["security"] == "starttls"


def test_quiet_prints_nothing_for_a_valid_config(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("CORP_SECRET", CORP_SECRET)
    result = check_config(every_secret_kind(tmp_path), "--quiet")
    assert (result.returncode, result.stdout) == (0, "")


def test_a_typo_is_located_by_file_line_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text("kafka:\n  bootstrap_servers: b:9092\n  partitons: 3\n")
    result = check_config(path)
    assert result.returncode == 2
    assert f"{path}:3: kafka.partitons: unknown key (did you mean partitions?)" in result.stderr.splitlines()
    assert result.stdout == ""


def test_every_receiver_is_checked_and_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text(
        "receivers:\n"
        "  - name: ops\n    type: webhook\n    urll: http://x\n"
        "  - name: fine\n    type: console\n"
        "  - name: chat\n    type: wecom\n    url: https://qyapi.weixin.qq.com/x?nokey=leak-me-0001\n"
    )
    result = check_config(path, "--quiet")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert f"{path}:4: receivers[0].urll: unknown key (did you mean url?)" in lines
    assert f"{path}:2: receivers[0].url: required key is missing" in lines
    assert any(
        line.startswith(f"{path}:9: receivers[2].url: Value error, expected the webhook") for line in lines
    )
    assert "leak-me" not in result.stderr
    assert result.stdout == ""


def test_bad_content_of_a_secret_file_is_reported_without_the_content(tmp_path: Path) -> None:
    (tmp_path / "ding").write_text("https://oapi.dingtalk.com/robot/send?token=leak-me-0002\n")
    path = tmp_path / "herald.yaml"
    path.write_text(
        "receivers:\n  - name: ops\n    type: dingtalk\n    url_file: ding\n"
        "  - name: mail\n    type: email\n    smarthost: s\n    username: u\n    password_file: gone\n"
        "    sender: a@example.com\n    to: [b@example.com]\n"
    )
    result = check_config(path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{path}:4: receivers[0].url_file: Value error") for line in lines)
    assert (
        f"{path}:9: receivers[1].password_file: cannot read {tmp_path / 'gone'}: No such file or directory"
        in (lines)
    )
    assert "leak-me" not in result.stderr + result.stdout


def test_a_typo_a_wrong_type_and_a_missing_secret_give_three_located_errors(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text(
        "kafka:\n  bootstrap_servers: b:9092\n  topic_prefx: prod.\n"
        "processor:\n  group_wait_seconds: soon\n"
        "receivers:\n  - name: chat\n    type: wecom\n    url: ${HERALD_TEST_UNSET_WECOM_URL}\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "HERALD_TEST_UNSET_WECOM_URL"}
    result = subprocess.run(
        herald_command(path, "check-config"), capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 2
    errors = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith(f"{path}:")]
    assert len(errors) == 3, result.stderr
    assert errors[0] == f"{path}:3: kafka.topic_prefx: unknown key (did you mean topic_prefix?)"
    assert errors[1].startswith(f"{path}:5: processor.group_wait_seconds: ")
    assert "number" in errors[1]
    assert errors[2].startswith(f"{path}:9: receivers[0].url: ")
    assert "HERALD_TEST_UNSET_WECOM_URL" in errors[2]
    assert result.stdout == ""


FIVE_MISTAKES = """\
kafka:
  bootstrap_servers: 127.0.0.1:19092
processor:
  group_wait_seconds: 30s
notifer:
  timezone: Asia/Shanghai
receivers:
  - name: team-chat
    type: wecom
    url: ${HERALD_TEST_UNSET_ROBOT_URL}
    msgtpye: markdown
  - name: console
    type: console
    template: "{{ incident.title | nosuchfilter }}"
route:
  receiver: team-chat
  routes:
    - receiver: pagr
      matchers: ['severity=critical']
"""


def test_five_different_mistakes_give_five_located_errors_in_one_run(tmp_path: Path) -> None:
    """Issue 18: an unset variable does not hide a typo in the same entry, a shared section's
    error does not stop the receivers' checks, nor theirs the routes' or the templates'."""
    path = tmp_path / "herald.yaml"
    path.write_text(FIVE_MISTAKES)
    result = check_config(path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    assert errors == [
        f"{path}:4: processor.group_wait_seconds: expected a number without a unit (got '30s': write 30, "
        "in seconds)",
        f"{path}:5: notifer: unknown key (did you mean notifier?)",
        f"{path}:10: receivers[0].url: environment variable HERALD_TEST_UNSET_ROBOT_URL is not set",
        f"{path}:11: receivers[0].msgtpye: unknown key (did you mean msgtype?)",
        f"{path}:14: receivers[1].template: template {{{{ incident.title | nosuchfilter }}}}: not found "
        "among the packaged templates (rendering the firing sample in en; 8 of 8 renderings fail)",
        f"{path}:18: route.routes[0].receiver: must name one of the receivers: console, team-chat "
        "(got 'pagr')",
    ], result.stderr
    assert result.stdout == ""


def test_unknown_keys_and_types_suggest_the_closest_known_one(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text(
        "recievers: []\n"
        "kafka:\n  partitons: 3\n  sasl_pasword_file: p\n"
        "receivers:\n"
        "  - {name: a, type: webhok, url: 'http://x'}\n"
        "  - {name: b, type: dingtalk, url: 'https://d?access_token=t', secrte: s}\n"
        "  - {name: console, type: console, zzz: 1}\n"
        "route: {receiver: console, routes: [{receiver: consle}]}\n"
    )
    result = check_config(path, "--quiet")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    for expected in (
        f"{path}:1: recievers: unknown key (did you mean receivers?)",
        f"{path}:3: kafka.partitons: unknown key (did you mean partitions?)",
        f"{path}:4: kafka.sasl_pasword_file: unknown key (did you mean sasl_password_file?)",
        f"{path}:6: receivers[0].type: unknown receiver type 'webhok' (did you mean webhook?)",
        f"{path}:7: receivers[1].secrte: unknown key (did you mean secret?)",
        f"{path}:8: receivers[2].zzz: unknown key (check its spelling)",
        f"{path}:9: route.routes[0].receiver: must name one of the receivers: a, b, console "
        "(did you mean console?) (got 'consle')",
    ):
        assert expected in lines, result.stderr


def test_a_wrong_name_or_type_leaves_the_other_receivers_and_routes_checked(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text(
        "receivers:\n"
        "  - {name: Bad Name, type: console}\n"
        "  - {type: console}\n"
        "  - {name: ok, type: console, colour: red}\n"
        "route: {receiver: nope}\n"
    )
    result = check_config(path, "--quiet")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    assert [line.split(": ")[1] for line in errors] == [
        "receivers[0].name",
        "receivers[1].name",
        "receivers[2].colour",
        "route.receiver",
    ], result.stderr


def test_invalid_yaml_is_located_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text("kafka:\n  bootstrap_servers: b:9092\n  topic_prefix: a: b\n")
    result = check_config(path)
    assert result.returncode == 2
    assert (
        f"{path}:3: (top level): not valid YAML: mapping values are not allowed here: 'topic_prefix: a: b'"
        in result.stderr.splitlines()
    ), result.stderr
