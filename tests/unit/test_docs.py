"""The docs name every topic the code creates, with its key; their links lead somewhere, and
every ``herald`` command line they show is one the CLI accepts."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from herald.cli import _parser
from schemas import TOPIC_SPECS

ROOT = Path(__file__).parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_COMMAND = re.compile(r"(?<![\w./-])herald[ \t]+(?=([^`\n|]*))")
"""Each ``herald`` in code, and the rest of its line (a lookahead, so two on one line are both seen)."""
_GLOBAL_OPTIONS = {"-c": 1, "--config": 1, "--log-level": 1, "--log-format": 1, "--log-json": 0}
"""Options of ``herald`` itself that may stand before the command, and how many values they take."""


def test_every_topic_is_documented() -> None:
    text = ARCHITECTURE.read_text()
    for spec in TOPIC_SPECS:
        assert f"| `{spec.suffix}` |" in text, f"docs/architecture.md lacks topic {spec.suffix}"


def _relative_links(doc: Path) -> list[str]:
    prose = _CODE_SPAN.sub("", _FENCE.sub("", doc.read_text(encoding="utf-8")))
    return [
        target
        for target in _LINK.findall(prose)
        if not re.match(r"^(?:[a-z][a-z0-9+.-]*:|#)", target)  # http:, mailto:, an anchor in this page
    ]


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = [target for target in _relative_links(doc) if not (doc.parent / target.split("#")[0]).exists()]
    assert broken == [], f"{doc.relative_to(ROOT)} links to missing files"


def test_the_link_check_sees_links() -> None:
    assert "docs/architecture.md" in _relative_links(ROOT / "README.md")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _unknown_command(line: str) -> str | None:
    """What is wrong with the ``herald`` command line at the start of ``line``, if anything."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        words = line.split()
    while words and words[0] in _GLOBAL_OPTIONS:
        words = words[1 + _GLOBAL_OPTIONS[words[0]] :]
    parser = _parser()
    path = []
    while words and re.fullmatch(r"[a-z][a-z-]*", words[0].rstrip(":,")):
        commands = _subcommands(parser)
        if not commands:
            break
        written = words.pop(0)
        word = written.rstrip(":,")
        if word not in commands:
            return f"herald {' '.join([*path, word])}: no such command (known: {', '.join(commands)})"
        parser = commands[word]
        path.append(word)
        if written != word:  # punctuation ends the command line ("herald silence, the API")
            break
    return None


def _command_lines(doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    code = _FENCE.findall(text) + _CODE_SPAN.findall(_FENCE.sub("", text))
    return [found for snippet in code for found in _COMMAND.findall(snippet)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_herald_commands_in_docs_exist(doc: Path) -> None:
    wrong = [problem for line in _command_lines(doc) if (problem := _unknown_command(line))]
    assert wrong == [], f"{doc.relative_to(ROOT)}"


def test_the_command_check_finds_mistakes() -> None:
    assert _unknown_command("-c herald.yaml notifier --receiver x") is None
    assert _unknown_command("topics verify") is None
    assert _unknown_command("-c herald.yaml notifer --receiver x") is not None
    assert _unknown_command("silence remove 3f2a") is not None
    assert len(_command_lines(ROOT / "README.md")) > 5
