"""tools.check_code: functions stay under 60 lines, and only processors/faustkit/ names the
private attributes of faust, aiokafka and mode."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from tools.check_code import (
    check,
    framework_private_names,
    long_functions,
    main,
    private_names,
)


def _function(name: str, lines: int, indent: str = "") -> str:
    """A function of exactly `lines` lines, decorated (the decorator is not counted)."""
    body = "".join(f"{indent}    x{i} = {i}\n" for i in range(lines - 2))
    return f"{indent}@staticmethod\n{indent}def {name}():\n{body}{indent}    return None\n"


def _private(source: str, path: str = "herald/mod.py", own: set[str] | None = None) -> list[str]:
    tree = ast.parse(textwrap.dedent(source))
    return [str(f) for f in private_names(path, tree, framework_private_names(), own or set())]


def test_a_60_line_function_is_flagged_and_a_59_line_one_is_not() -> None:
    source = _function("long", 60) + _function("short", 59)
    findings = long_functions("m.py", ast.parse(source))
    assert [str(f) for f in findings] == ["m.py:2: function long is 60 lines (at most 59)"]


def test_nested_functions_and_methods_are_measured_too() -> None:
    source = "class C:\n" + _function("method", 61, indent="    ") + "async def outer():\n"
    source += _function("inner", 62, indent="    ")
    messages = {f.message for f in long_functions("m.py", ast.parse(source))}
    assert "function method is 61 lines (at most 59)" in messages
    assert "function inner is 62 lines (at most 59)" in messages


def test_the_framework_private_set_comes_from_the_installed_sources() -> None:
    private = framework_private_names()
    assert "_current_event" in private  # faust.streams
    assert all(name.startswith("_") and not name.startswith("__") for name in private)


@pytest.mark.parametrize(
    ("path", "flagged"), [("processors/app.py", True), ("processors/faustkit/streams.py", False)]
)
def test_faust_streams_current_event_is_flagged_outside_faustkit_only(path: str, flagged: bool) -> None:
    source = """
        import faust.streams as faust_streams
        token = faust_streams._current_event.set(None)
    """
    expected = [f"{path}:3: _current_event is private to faust/aiokafka/mode: use processors.faustkit"]
    assert _private(source, path, own={"_current_event"}) == (expected if flagged else [])


def test_a_private_framework_name_we_never_define_is_flagged_on_any_object() -> None:
    assert _private("def f(stream):\n    return stream._current_event\n") == [
        "herald/mod.py:2: _current_event is private to faust/aiokafka/mode: use processors.faustkit"
    ]


def test_self_commit_is_ours_when_our_code_defines_commit() -> None:
    source = """
        class Offsets:
            def _commit(self) -> None: ...
            def flush(self) -> None:
                self._commit()
    """
    assert "_commit" in framework_private_names()
    assert _private(source, own={"_commit", "flush"}) == []
    assert len(_private(source, own={"flush"})) == 1


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("from aiokafka.consumer import _y", "_y"),
        ("from faust import _cython", "_cython"),
        ("import faust._cython", "faust._cython"),
        ("from aiokafka._x import y", "aiokafka._x"),
    ],
)
def test_private_imports_from_the_frameworks_are_flagged(source: str, name: str) -> None:
    assert _private(source) == [
        f"herald/mod.py:1: {name} is private to faust/aiokafka/mode: use processors.faustkit"
    ]


def test_public_imports_and_our_own_private_modules_are_not_flagged() -> None:
    source = """
        from aiokafka.consumer import fetcher
        import aiokafka.consumer.fetcher
        from notifiers.gotemplate import _parse
        from . import _helpers
    """
    assert _private(source) == []


def test_main_reports_path_and_line_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text(_function("long", 60))
    (tmp_path / "pkg" / "ok.py").write_text(_function("ok", 59))
    for skipped in ("tests", ".venv", "build"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "long.py").write_text(_function("long", 80))
    assert main([str(tmp_path)]) == 1
    assert capsys.readouterr().out == "pkg/long.py:2: function long is 60 lines (at most 59)\n"


def test_main_is_silent_and_exits_0_on_clean_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.py").write_text(_function("ok", 59))
    assert check(tmp_path) == []
    assert main([str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""
