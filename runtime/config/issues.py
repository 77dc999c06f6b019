"""Problems in the configuration, each located by file, line and key path."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    path: tuple[str | int, ...]
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {_dotted(self.path) or '(top level)'}: {self.message}"


class ConfigError(Exception):
    """One or more problems in the configuration, each located by file, line and key path."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = issues


@dataclass
class _Source:
    file: str
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _in_file_order(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Top to bottom, as the user reads the file; issues without a line last."""
    return sorted(issues, key=lambda issue: (issue.line is None, issue.line or 0))


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean X?)`` for the choice closest to a misspelt ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
