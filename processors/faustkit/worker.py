"""Running the app as a Faust worker that leaves herald's logging alone."""

from __future__ import annotations

import faust
import mode.loop


def run(app: faust.App, *, loglevel: str) -> None:
    """Blocks until the worker stops (SIGTERM/SIGINT); Faust owns the event loop.

    Faust would replace the process's log handlers with its own: herald's stay (JSON lines,
    the secret filter). Its start-up spinner writes terminal escapes to stdout even when that
    is a log file; without it, Faust logs "Ready" instead.
    """
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False, override_logging=False)
    worker.spinner = None
    worker.execute_from_commandline()


def use_uvloop() -> None:
    """Run the worker on uvloop: call before the app exists, as mode asks (its loop is made early)."""
    mode.loop.use("uvloop")
