"""A mistake found outside the configuration file's text: a broker that does not answer, a
kubeconfig context that does not exist, a port another process listens on.

``herald``'s ``main`` prints one as its one line and exits 2, like a ``ConfigError``: the
user can fix it without reading a traceback. Raise it only for what the user can fix; a bug
stays an ordinary exception, with its traceback.
"""

from __future__ import annotations


class SetupError(Exception):
    """One line saying what is wrong and where (an address, a port, a setting)."""
