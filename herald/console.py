"""The rich console the commands print tables with, leaving a closed pipe to ``herald.__main__``.

rich exits with status 1 when its reader goes away (``herald silence ls | head -1``); raising
BrokenPipeError instead lets every command end the same way: quietly, with status 0.
"""

from __future__ import annotations

from rich.console import Console


class PipeConsole(Console):
    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError
