"""``python -m herald``: :func:`herald.cli.main`, quiet when its reader goes away.

``herald render | head -1`` closes the pipe while herald still writes: that is the reader
having read enough, not an error, so no traceback (and no "Exception ignored" when Python
flushes stdout on its way out) and exit status 0.
"""

from __future__ import annotations

import os
import sys

from herald.cli import main


def run() -> int:
    try:
        try:
            return main()
        finally:  # also on SystemExit (--help, completion): a closed pipe may only show here
            sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; pointing it at /dev/null keeps that quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(run())
