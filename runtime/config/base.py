"""What every config section shares: the base model, the instance id and time zone validators,
and the test of which settings are secrets (those a ``<name>_file`` key can give)."""

from __future__ import annotations

import difflib
import os
import re
import types
import zoneinfo
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr
from pydantic_core import PydanticCustomError

SECRET_FILE_SUFFIX = "_file"  # noqa: S105 (a key suffix, not a password)
"""``<name>_file: PATH`` gives the secret setting ``<name>`` the content of the file at PATH."""

ENV_INSTANCE_ID = ("POD_NAME", "HOSTNAME")
"""Where a replica's group instance id comes from, first set wins: ``POD_NAME`` from the
downward API, else ``HOSTNAME``, which Kubernetes sets to the pod's name (and Docker to the
container's id). Either names the same member again when its container restarts in its pod."""
INSTANCE_ID_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"
"""What Kafka accepts as a ``group.instance.id`` (its rule for names)."""


def instance_id_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """This replica's static group member id, from :data:`ENV_INSTANCE_ID`; None if unset."""
    env = os.environ if env is None else env
    for name in ENV_INSTANCE_ID:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


S = TypeVar("S", bound=BaseModel)


class Settings(BaseModel):
    """Base of every config section: frozen, and strict about unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _time_zone(name: str) -> str:
    """An IANA zone name, checked now: a typo would otherwise fail every delivery."""
    if not is_time_zone(name):
        raise PydanticCustomError("time_zone", "{problem}", {"problem": time_zone_problem(name)})
    return name


def is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


ZONE_MISTAKES = {
    **dict.fromkeys(
        ("asia/beijing", "asia/peking", "beijing", "peking", "china", "cst", "utc+8", "gmt+8", "+8"),
        "Asia/Shanghai",
    ),
    **dict.fromkeys(("asia/mumbai", "asia/new_delhi", "asia/delhi", "india", "ist"), "Asia/Kolkata"),
    **dict.fromkeys(("asia/osaka", "tokyo", "japan", "jst"), "Asia/Tokyo"),
    "pst": "America/Los_Angeles",
    "europe/frankfurt": "Europe/Berlin",
}
"""Names people write that are no IANA zone, lower-cased (with ``UTC+08:00`` as ``utc+8``) -> the
zone they mean. Asia/Chongqing, Asia/Harbin, PRC and Hongkong are valid, if old, and not here."""


@cache
def _zone_names() -> dict[str, str]:
    """Every available zone, lower-cased -> as spelt."""
    return {zone.lower(): zone for zone in zoneinfo.available_timezones()}


def time_zone_problem(name: str) -> str:
    """What is wrong with ``name``, not a zone: ``unknown time zone 'Asia/Beijing' (did you mean
    Asia/Shanghai?)``, the suggestion from :data:`ZONE_MISTAKES`, else the closest zone's name."""
    key = re.sub(r"^(utc|gmt)?([+-])0?(\d+)(:?00)?$", r"\1\2\3", "".join(name.lower().split()))
    zones = _zone_names()
    meant = ZONE_MISTAKES.get(key) or zones.get(key)
    if meant is None:
        close = difflib.get_close_matches(key, list(zones), n=1, cutoff=0.8)
        meant = zones[close[0]] if close else None
    if meant is None:
        return f"unknown time zone {name!r}: expected an IANA name such as Asia/Shanghai or UTC"
    return f"unknown time zone {name!r} (did you mean {meant}?)"


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]


def _is_secret(annotation: Any) -> bool:
    """``SecretStr`` or ``SecretStr | None``: a setting one file can hold."""
    if annotation is SecretStr:
        return True
    return get_origin(annotation) in (Union, types.UnionType) and SecretStr in get_args(annotation)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The section model inside ``Model``, ``Model | None`` or ``list[Model]``, if any."""
    origin = get_origin(annotation)
    if origin is None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        return None
    if origin in (Union, types.UnionType, list):
        for arg in get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None
