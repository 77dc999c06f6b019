"""Templates are configuration: ``check-config`` renders every receiver's templates on sample
incidents (single, digest; en and zh) and reports a broken one as a located error, and
``herald render`` says so in one line instead of a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.processes import herald_command

WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=template-check-key"
PORTED = "{% for incident in incidents %}\n{{ incident.title }}\n{{ incident.object_kind }}\n{% endfor %}\n"
"""Ported by hand from kube-eventer: ``object_kind`` is one of an incident's labels, not its key."""
LOOP = "{% for i in incidents %}[{{ i.state_label }}] {{ i.headline }}\n{% endfor %}"


def herald(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERALD_")}
    return subprocess.run(
        herald_command(config, *args), capture_output=True, text=True, env=env, timeout=60, check=False
    )


def setup(tmp_path: Path, receivers: str, templates: dict[str, str], notifier: str = "") -> Path:
    """herald.yaml with ``templates_dir`` holding ``templates``."""
    directory = tmp_path / "templates"
    directory.mkdir()
    for name, text in templates.items():
        (directory / name).write_text(text, encoding="utf-8")
    path = tmp_path / "herald.yaml"
    path.write_text(
        f"notifier:\n  templates_dir: {directory}\n{notifier}receivers:\n{receivers}", encoding="utf-8"
    )
    return path


def errors(result: subprocess.CompletedProcess[str], path: Path) -> list[str]:
    """The lines under ``configuration error:`` (warnings come first, under their own heading)."""
    _, _, shown = result.stderr.partition("configuration error:\n")
    return [line for line in shown.splitlines() if line.startswith(f"{path}:")]


def warnings(result: subprocess.CompletedProcess[str], path: Path) -> list[str]:
    _, _, shown = result.stderr.partition("configuration warning:\n")
    shown = shown.partition("configuration error:")[0]
    return [line for line in shown.splitlines() if line.startswith(f"{path}:")]


def test_a_kube_eventer_style_attribute_is_a_located_error_naming_file_line_and_sample(
    tmp_path: Path,
) -> None:
    """The issue's case: ``check-config`` passed it, ``herald render`` crashed on it."""
    path = setup(
        tmp_path,
        f"  - name: chat\n    type: wecom\n    url: {WECOM}\n    markdown_template: ported.j2\n",
        {"ported.j2": PORTED},
    )
    result = herald(path, "check-config")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    [error] = errors(result, path)
    template = tmp_path / "templates" / "ported.j2"
    assert error.startswith(
        f"{path}:7: receivers[0].markdown_template: {template} at line 3: "
        "'dict object' has no attribute 'object_kind'"
    )
    assert "herald render --list-vars" in error
    assert "(rendering the firing sample in en; 8 of 8 renderings fail)" in error


def test_an_error_only_a_digest_or_one_language_meets_is_found(tmp_path: Path) -> None:
    path = setup(
        tmp_path,
        f"  - name: chat\n    type: wecom\n    url: {WECOM}\n    msgtype: text\n"
        "    text_template: second.j2\n    language: zh\n",
        {"second.j2": LOOP + "{% if lang == 'en' and digest %}{{ incidents[1].nope }}{% endif %}"},
    )
    [error] = errors(herald(path, "check-config", "--quiet"), path)
    assert f"receivers[0].text_template: {tmp_path / 'templates' / 'second.j2'} at line 2: " in error
    assert error.endswith("(rendering the digest sample in en)")


def test_a_syntax_error_is_located_in_the_template(tmp_path: Path) -> None:
    path = setup(
        tmp_path,
        "  - name: hook\n    type: webhook\n    url: https://hooks.example/\n    text_template: broken.j2\n",
        {"broken.j2": "{% for i in incidents %}\n{{ i.headline }\n{% endfor %}\n"},
    )
    result = herald(path, "check-config")
    assert result.returncode == 2
    [error] = errors(result, path)
    assert error.startswith(
        f"{path}:7: receivers[0].text_template: {tmp_path / 'templates' / 'broken.j2'} at line 2: "
    )
    assert "unexpected '}'" in error


def test_a_missing_template_file_is_named(tmp_path: Path) -> None:
    path = setup(tmp_path, "  - name: out\n    type: console\n    template: nowhere.j2\n", {})
    [error] = errors(herald(path, "check-config"), path)
    assert error.startswith(f"{path}:6: receivers[0].template: template nowhere.j2: not found in ")


def test_a_body_that_reads_only_the_first_incident_is_rejected_where_digests_are_sent(tmp_path: Path) -> None:
    first_only = "### {{ incidents[0].headline }}\n{{ incident.cluster }}\n"
    path = setup(
        tmp_path,
        f"  - name: chat\n    type: wecom\n    url: {WECOM}\n    markdown_template: first.j2\n"
        "  - name: out\n    type: console\n    template: first.j2\n",
        {"first.j2": first_only},
    )
    result = herald(path, "check-config")
    assert result.returncode == 2
    [error] = errors(result, path)
    assert error.startswith(
        f"{path}:7: receivers[0].markdown_template: {tmp_path / 'templates' / 'first.j2'} reads only the "
        "first incident (`incidents[0]` at line 1)"
    )
    assert "drop the others" in error
    assert "{% for incident in incidents %}" in error
    # A console has no rate_limits, so it never sends a digest: a warning, not an error.
    [warning] = warnings(result, path)
    assert warning.startswith(f"{path}:10: receivers[1].template: ")
    assert "no rate_limits" in warning


def test_valid_user_templates_pass(tmp_path: Path) -> None:
    path = setup(
        tmp_path,
        f"  - name: chat\n    type: wecom\n    url: {WECOM}\n    markdown_template: loop.j2\n"
        "  - name: ding\n    type: dingtalk\n    url: https://oapi.dingtalk.com/robot/send?access_token=t\n"
        "    title_template: '{{ incidents | length }} {{ t.digest }}: {{ incident.headline }}'\n",
        {"loop.j2": LOOP, "wecom.text.j2": LOOP},
        notifier="  link_template: 'https://grafana.example/?c={{ incident.cluster | urlencode }}'\n",
    )
    result = herald(path, "check-config", "--quiet")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_broken_link_template_is_one_error_at_its_key(tmp_path: Path) -> None:
    path = setup(
        tmp_path,
        f"  - name: chat\n    type: wecom\n    url: {WECOM}\n  - name: out\n    type: console\n",
        {},
        notifier="  link_template: 'https://grafana.example/{{ incident.cluster | nosuchfilter }}'\n",
    )
    result = herald(path, "check-config")
    assert result.returncode == 2
    [error] = errors(result, path)
    assert error.startswith(f"{path}:3: notifier.link_template: the link template at line 1: ")
    assert "nosuchfilter" in error


def test_render_says_a_broken_template_in_one_line(tmp_path: Path) -> None:
    path = setup(
        tmp_path,
        f"  - name: chat\n    type: wecom\n    url: {WECOM}\n",
        {"wecom.md.j2": "{{ incident.headline }}\n{{ incident.object_kind }}\n"},
    )
    result = herald(path, "render", "--receiver", "chat")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}: receivers[0] (chat): template 'wecom.md.j2' failed at line 2: "
        "'dict object' has no attribute 'object_kind'"
    ]


def test_render_list_vars_prints_the_variables(tmp_path: Path) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text("receivers: []\n")
    result = herald(path, "render", "--list-vars")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Every template:"
    rows = {line.split()[0]: line for line in lines if line.startswith("  ") and line.split()}
    assert {
        "incidents",
        "incident",
        "digest",
        "incident.labels",
        "incident.samples[].time",
        "t.firing",
    } <= set(rows)
    assert "list of mapping" in rows["incidents"]
    assert "localtime" in rows
    assert "object_kind" in rows["incident.labels"] + result.stdout  # where kube-eventer's lives
