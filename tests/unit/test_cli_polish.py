"""The CLI's rough edges (issue 18): silence id prefixes, times in the configured zone, hints
that repeat the user's options, help that says every default, completion, closed pipes."""

from __future__ import annotations

import argparse
import io
import logging
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from herald.cli import HelpFormatter, _parser
from herald.completion import bash_script, levels, zsh_script
from herald.silence_cli import described, expire, silence_table
from herald.tail_cli import line
from herald.topics_cli import _without_created_logs, fix, herald_prefix
from notifiers.silences import SilenceIdError, resolve_id, short_ids
from runtime.config import KafkaSettings
from runtime.kafka import TopicMismatch
from schemas import Matcher, Silence
from tests.support.incidents import make_incident

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 6, 5, 4, 5, tzinfo=UTC)


def make_silence(silence_id: str, *, comment: str = "") -> Silence:
    return Silence(
        id=silence_id,
        matchers=[Matcher(name="namespace", op="=", value="shop")],
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=8),
        created_by="ops",
        comment=comment,
        updated_at=NOW,
    )


# ── silence ids ──────────────────────────────────────────────────────────────


def test_short_ids_are_eight_characters_unless_two_share_more() -> None:
    ids = ["39ef45daed8c4b28", "95dcff7742994057", "95dcff77aa000000", "95dcff77ab000000"]
    assert short_ids(ids) == {
        "39ef45daed8c4b28": "39ef45da",
        "95dcff7742994057": "95dcff774",
        "95dcff77aa000000": "95dcff77aa",
        "95dcff77ab000000": "95dcff77ab",
    }
    for shown in short_ids(ids).values():
        assert [i for i in ids if i.startswith(shown)] == [next(i for i in ids if i.startswith(shown))]


def test_any_unique_prefix_names_its_silence() -> None:
    ids = ["39ef45daed8c4b28", "39ef99daed8c4b28", "95dcff7742994057"]
    assert resolve_id("95dc", ids) == "95dcff7742994057"
    assert resolve_id("39ef45", ids) == "39ef45daed8c4b28"
    assert resolve_id("39ef45daed8c4b28", ids) == "39ef45daed8c4b28"


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("39ef", "'39ef' is ambiguous: 39ef45da, 39ef99da"),
        ("abcd", "no silence 'abcd'"),
        ("39e", "'39e': give at least 4 characters of a silence id"),
    ],
)
def test_an_ambiguous_unknown_or_too_short_prefix_is_one_line(prefix: str, message: str) -> None:
    with pytest.raises(SilenceIdError) as raised:
        resolve_id(prefix, ["39ef45daed8c4b28", "39ef99daed8c4b28", "95dcff7742994057"])
    assert str(raised.value) == message


class FakeStore:
    def __init__(self, *silences: Silence) -> None:
        self.silences = {s.id: s for s in silences}
        self.expired: list[str] = []

    def book(self) -> dict[str, Silence]:
        return self.silences

    def expire(self, silence_id: str) -> Silence:
        self.expired.append(silence_id)
        return self.silences[silence_id]


def test_expire_takes_prefixes_and_expires_nothing_when_one_is_not_unique(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = FakeStore(make_silence("39ef45daed8c4b28"), make_silence("39ef99daed8c4b28"))
    assert expire(store, ["39ef45da", "39ef"]) == 2  # type: ignore[arg-type]
    assert store.expired == []
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "herald silence expire: '39ef' is ambiguous: 39ef45da, 39ef99da\n"

    assert expire(store, ["39ef45da", "39ef45daed8c4b28", "39ef9"]) == 0  # type: ignore[arg-type]
    assert store.expired == ["39ef45daed8c4b28", "39ef99daed8c4b28"]
    assert capsys.readouterr().out == "expired 39ef45daed8c4b28\nexpired 39ef99daed8c4b28\n"


def test_silence_ls_never_cuts_an_id_or_a_time_in_80_columns() -> None:
    silences = [make_silence(f"{n:x}5daed8c4b28aa", comment="maintenance window " * 6) for n in range(10, 13)]
    out = io.StringIO()
    Console(file=out, width=80).print(
        silence_table(silences, zone=SHANGHAI, ids=short_ids(s.id for s in silences))
    )
    text = out.getvalue()
    assert max(len(row) for row in text.splitlines()) <= 80
    for silence in silences:
        assert f"│ {silence.id[:8]} │" in text
    assert text.count("2026-12-06 21:04:05 +08:00") == 3


def test_silence_json_has_full_ids_and_iso_times_with_the_offset() -> None:
    data = described(make_silence("39ef45daed8c4b28"), SHANGHAI)
    assert data["id"] == "39ef45daed8c4b28"
    assert data["starts_at"] == "2026-12-06T13:04:05+08:00"
    assert data["ends_at"] == "2026-12-06T21:04:05+08:00"
    assert data["matchers"] == ['namespace="shop"']
    assert Matcher.model_validate(data["matchers"][0]) == make_silence("x").matchers[0]


def test_tail_lines_are_in_the_configured_zone_with_its_offset() -> None:
    update = make_incident(1)
    local = update.emitted_at.astimezone(SHANGHAI)
    assert line(update, zone=SHANGHAI).startswith(f"{local:%Y-%m-%d %H:%M:%S} +08:00 firing ")


# ── topics ───────────────────────────────────────────────────────────────────


def global_args(**given: Any) -> argparse.Namespace:
    defaults: dict[str, Any] = {"config": None, "log_level": "INFO", "log_format": None, "log_json": False}
    return argparse.Namespace(**(defaults | given))


def test_topic_hints_repeat_the_users_own_options() -> None:
    kafka = KafkaSettings(bootstrap_servers="b1:9092,b2:9092")
    missing = TopicMismatch(topic="herald.alerts", setting="exists", actual=None, expected="yes")
    assert fix(kafka, missing) == "herald topics create"
    given = herald_prefix(global_args(config=Path("my configs/prod.yaml"), log_level="DEBUG"))
    assert given == "herald -c 'my configs/prod.yaml' --log-level DEBUG"
    assert fix(kafka, missing, herald=given) == f"{given} topics create"
    fewer = TopicMismatch(topic="herald.alerts", setting="partitions", actual="6", expected="3")
    assert f"run {given} topics create" in fix(kafka, fewer, herald=given)
    assert herald_prefix(global_args()) == "herald"


def test_topics_create_does_not_log_what_it_prints(caplog: pytest.LogCaptureFixture) -> None:
    kafka_log = logging.getLogger("runtime.kafka")
    with caplog.at_level(logging.INFO):
        with _without_created_logs():
            kafka_log.info("created topic %s", "herald.alerts")
            kafka_log.info("something else")
        kafka_log.info("created topic %s", "herald.silences")
    assert [r.getMessage() for r in caplog.records] == ["something else", "created topic herald.silences"]


# ── help ─────────────────────────────────────────────────────────────────────


def every_parser(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += every_parser(child, (*path, name))
    return found


PARSERS = every_parser(_parser())


def test_the_walk_sees_every_command() -> None:
    commands = {path for path, _ in PARSERS}
    for expected in [("simulate",), ("silence", "expire"), ("migrate", "kube-eventer"), ("completion",)]:
        assert expected in commands


@pytest.mark.parametrize(("path", "parser"), PARSERS, ids=[" ".join(p) or "herald" for p, _ in PARSERS])
def test_every_command_has_a_description_and_every_option_its_default(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    assert parser.description, f"herald {' '.join(path)}: no description"
    assert parser.formatter_class is HelpFormatter
    formatter = HelpFormatter(parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"herald {' '.join(path)} {name}: no help"
        if action.nargs == 0:  # a flag: present or not
            continue
        text = formatter._expand_help(action)
        assert "default" in text or "required" in text, f"herald {' '.join(path)} {name}: {text!r}"
        assert "(default: None)" not in text


def test_seed_says_its_default() -> None:
    simulate = dict(PARSERS)[("simulate",)]
    assert "--seed SEED" in simulate.format_help()
    assert re.search(r"same\s+stream\s+\(default:\s+0\)", simulate.format_help())


# ── completion ───────────────────────────────────────────────────────────────


def test_the_completion_tree_follows_the_parser() -> None:
    tree = levels(_parser())
    assert {"silence", "tail", "topics", "completion", "render", "simulate"} <= set(tree[""].commands)
    assert tree["silence"].commands == ["add", "ls", "expire"]
    assert tree[""].valued["--log-level"] == ["DEBUG", "INFO", "WARNING", "ERROR"]
    assert tree["silence/ls"].valued["--output"] == ["table", "json", "yaml"]
    assert tree["completion"].commands == ["bash", "zsh"]


needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")


@needs_bash
def test_the_bash_script_is_valid_bash(tmp_path: Path) -> None:
    script = tmp_path / "herald.bash"
    script.write_text(bash_script(_parser()))
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert "complete -F _herald herald" in script.read_text()


def complete(tmp_path: Path, *words: str) -> list[str]:
    """What bash would offer after ``herald WORDS`` (the last word being completed)."""
    script = tmp_path / "herald.bash"
    script.write_text(bash_script(_parser()))
    quoted = " ".join(f"'{w}'" for w in ("herald", *words))
    program = (
        f"source {script}; cd {tmp_path}; COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; "
        '_herald; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return done.stdout.split()


@needs_bash
def test_bash_completes_commands_options_and_choices(tmp_path: Path) -> None:
    assert complete(tmp_path, "sil") == ["silence"]
    assert complete(tmp_path, "-c", "prod.yaml", "silence", "e") == ["expire"]
    assert complete(tmp_path, "--log-level", "W") == ["WARNING"]
    assert complete(tmp_path, "simulate", "--se") == ["--seed"]
    assert complete(tmp_path, "silence", "ls", "-o", "") == ["table", "json", "yaml"]
    assert complete(tmp_path, "completion", "") == ["bash", "zsh"]
    assert complete(tmp_path, "-c", "herald.b") == ["herald.bash"]  # a value: a file name


def test_the_zsh_script_loads_the_bash_functions() -> None:
    script = zsh_script(_parser())
    assert script.startswith("# herald shell completion for zsh")
    assert "bashcompinit" in script
    assert "complete -F _herald herald" in script


# ── closed pipe ──────────────────────────────────────────────────────────────


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_closed_pipe_ends_herald_quietly(shell: str) -> None:
    """``herald completion bash | true``: the reader is gone before herald writes (without
    herald.__main__'s handling, a BrokenPipeError traceback on stderr and status 1)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "herald", "completion", shell],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert stderr == ""
