"""The private names of faust-streaming and aiokafka that faustkit relies on, checked by name.

A dependency upgrade that renames one of them would otherwise fail quietly: a lost current
event writes a table's changelog to the wrong partition, a missing consumer thread stops
the rewind after recovery. The worker refuses to start instead, and
``tests/unit/test_faustkit.py`` fails before a release does.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from importlib.metadata import version

log = logging.getLogger(__name__)

TESTED_VERSIONS = {"faust-streaming": "0.15.", "aiokafka": "0.14.", "mode-streaming": "0.7."}
"""The versions faustkit was written against (prefixes); others are run with a warning."""

REQUIRED = (
    ("faust.streams", None, "_current_event"),
    ("faust.transport.consumer", "ThreadDelegateConsumer", "self._thread"),
    ("faust.transport.drivers.aiokafka", "AIOKafkaConsumerThread", "def seek("),
    ("faust.transport.drivers.aiokafka", "AIOKafkaConsumerThread", "async def seek_to_beginning("),
    ("faust.transport.drivers.aiokafka", "AIOKafkaConsumerThread", "async def earliest_offsets("),
)
"""(module, class or None, name): a module attribute, or text a class's source must hold."""


def missing_private_names() -> list[str]:
    """What of :data:`REQUIRED` the installed packages no longer have."""
    missing = []
    for module_name, class_name, name in REQUIRED:
        module = importlib.import_module(module_name)
        if class_name is None:
            present = hasattr(module, name)
        else:
            owner = getattr(module, class_name, None)
            present = owner is not None and name in inspect.getsource(owner)
        if not present:
            missing.append(f"{module_name}:{class_name + '.' if class_name else ''}{name}")
    return missing


def untested_versions() -> list[str]:
    return [
        f"{package} {version(package)}"
        for package, prefix in TESTED_VERSIONS.items()
        if not version(package).startswith(prefix)
    ]


def check() -> None:
    """Raise if a required private name is gone; warn about versions faustkit was not tested with."""
    missing = missing_private_names()
    if missing:
        raise RuntimeError(
            "processors.faustkit relies on names this faust-streaming/aiokafka no longer has: "
            + ", ".join(missing)
        )
    untested = untested_versions()
    if untested:
        log.warning("processors.faustkit was tested with %s; running with %s", TESTED_VERSIONS, untested)
