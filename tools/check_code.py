"""Code rules that ruff and mypy do not enforce; ``python -m tools.check_code`` from the repo root.

1. Every function is under 60 lines, so each one can be read on one screen.
2. Only ``processors/faustkit/`` touches the private names of faust, aiokafka and mode: their
   privates change between patch releases, and one package is where such a change is absorbed.

Prints one ``path:line: message`` line per finding and exits 1, or exits 0 silently.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_FUNCTION_LINES = 59
FRAMEWORKS = ("faust", "aiokafka", "mode")
EXEMPT_PREFIX = "processors/faustkit/"
# Directories whose files are not our own code: the tests, build output and vendored sources.
SKIPPED_DIRS = frozenset(
    {"tests", "build", "dist", "vendor", "vendored", "third_party", "node_modules", "site-packages"}
)


@dataclass(frozen=True, order=True)
class Finding:
    """One rule broken at one place, printed as ``path:line: message``."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def is_private(name: str) -> bool:
    """A name with one leading underscore: private by convention (dunders and ``_`` are not)."""
    return len(name) > 1 and name.startswith("_") and not name.startswith("__")


def long_functions(path: str, tree: ast.AST) -> list[Finding]:
    """Every def and async def, nested ones too, longer than MAX_FUNCTION_LINES (decorators not counted)."""
    findings = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                message = f"function {node.name} is {lines} lines (at most {MAX_FUNCTION_LINES})"
                findings.append(Finding(path, node.lineno, message))
    return findings


def _target_names(target: ast.expr) -> Iterator[str]:
    """The names an assignment target binds: ``x``, ``obj.x``, and each of ``x, obj.y = ...``."""
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Attribute):
        yield target.attr
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def defined_names(tree: ast.AST) -> set[str]:
    """The names a module defines: functions, classes, assigned names and assigned attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(_target_names(target))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            names.update(_target_names(node.target))
    return names


def _parse(path: Path) -> ast.Module | None:
    """The module's syntax tree, or None for a file Python cannot read (never ours: ruff parses those)."""
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        return None


def _source_dirs(package: str) -> list[str]:
    """Where an installed package's sources are; none when it is not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except ValueError:  # faust, once imported, is a lazy module without a spec: ask sys.path
        spec = importlib.machinery.PathFinder.find_spec(package)
    return list(spec.submodule_search_locations or []) if spec else []


@functools.cache
def framework_private_names() -> frozenset[str]:
    """The private names defined anywhere in the installed faust, aiokafka and mode sources."""
    names: set[str] = set()
    for package in FRAMEWORKS:
        for location in _source_dirs(package):
            for source in sorted(Path(location).rglob("*.py")):
                tree = _parse(source)
                if tree is not None:
                    names.update(name for name in defined_names(tree) if is_private(name))
    return frozenset(names)


def _is_framework_module(module: str) -> bool:
    return module.split(".", maxsplit=1)[0] in FRAMEWORKS


def _private_import_findings(path: str, tree: ast.AST) -> Iterator[Finding]:
    """``import faust._x``, ``from faust._x import y`` and ``from faust.x import _y``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            imported: list[str] = []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            imported = [alias.name for alias in node.names]
        else:
            continue
        for module in filter(_is_framework_module, modules):
            if any(is_private(part) for part in module.split(".")):
                yield _private_finding(path, node.lineno, module)
            yield from (_private_finding(path, node.lineno, name) for name in imported if is_private(name))


def framework_bound_names(tree: ast.AST) -> set[str]:
    """The names a module binds by importing faust, aiokafka, mode, their submodules or their members."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_framework_module(alias.name):
                    bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_framework_module(node.module or ""):
            bound.update(alias.asname or alias.name for alias in node.names)
    return bound


def _root_name(expression: ast.expr) -> str | None:
    """``faust`` for ``faust.streams.x``; None when the chain does not start at a plain name."""
    while isinstance(expression, ast.Attribute):
        expression = expression.value
    return expression.id if isinstance(expression, ast.Name) else None


def _private_finding(path: str, line: int, name: str) -> Finding:
    return Finding(path, line, f"{name} is private to faust/aiokafka/mode: use processors.faustkit")


def private_names(
    path: str, tree: ast.AST, framework_private: Iterable[str], own_names: Iterable[str]
) -> list[Finding]:
    """Private framework names a module uses outside EXEMPT_PREFIX.

    An attribute counts when it is private to the frameworks and either reached from a name the
    module imported from them, or never defined by our own code (so it can only be theirs).
    """
    if path.startswith(EXEMPT_PREFIX):
        return []
    private, own = frozenset(framework_private), frozenset(own_names)
    bound = framework_bound_names(tree)
    findings = list(_private_import_findings(path, tree))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or node.attr not in private:
            continue
        if node.attr not in own or _root_name(node.value) in bound:
            findings.append(_private_finding(path, node.lineno, node.attr))
    return findings


def python_files(root: Path) -> list[Path]:
    """Our own .py files under root: no tests, no hidden directories (.venv, .git), no build output."""
    files = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts[:-1]
        if not any(
            part.startswith(".") or part in SKIPPED_DIRS or part.endswith(".egg-info") for part in parts
        ):
            files.append(path)
    return files


def check(root: Path) -> list[Finding]:
    """Both rules over every file of ours under root, sorted by path and line."""
    trees: dict[str, ast.Module] = {}
    for path in python_files(root):
        tree = _parse(path)
        if tree is not None:
            trees[path.relative_to(root).as_posix()] = tree
    own = set[str]().union(*(defined_names(tree) for tree in trees.values()))
    findings: list[Finding] = []
    for name, tree in trees.items():
        findings += long_functions(name, tree)
        findings += private_names(name, tree, framework_private_names(), own)
    return sorted(set(findings))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.check_code", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("root", nargs="?", default=".", type=Path, help="the repository (default: .)")
    args = parser.parse_args(argv)
    findings = check(args.root)
    for finding in findings:
        print(finding)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
