"""JSON log lines: ids given with ``extra=`` are top-level keys, and secrets never get through."""

from __future__ import annotations

import io
import logging

import orjson

from runtime.log import SECRETS, JsonFormatter, register_secrets

SECRET = "wh-k3y-0123456789abcdef"


def test_extras_are_top_level_keys_and_registered_secrets_are_redacted() -> None:
    register_secrets([SECRET])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SECRETS)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.json-logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise RuntimeError(f"POST https://hook.example/send?key={SECRET} failed")
    except RuntimeError:
        logger.exception(
            "oncall: delivery to %s failed",
            f"https://hook.example/send?key={SECRET}",
            extra={
                "cluster": "prod-a",
                "incident": "0123456789abcdef",
                "receiver": "oncall",
                "target": SECRET,
            },
        )
    finally:
        logger.removeHandler(handler)
    (text,) = stream.getvalue().splitlines()
    assert SECRET not in text
    record = orjson.loads(text)
    assert record["cluster"] == "prod-a"
    assert record["incident"] == "0123456789abcdef"
    assert record["receiver"] == "oncall"
    assert record["level"] == "error"
    assert record["msg"].startswith("oncall: delivery to https://hook.example/send?key=<redacted>")
    assert record["target"] == "<redacted>"
    assert "RuntimeError" in record["exc"]
