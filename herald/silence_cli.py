"""``herald silence add|ls|expire``: the command-line side of the silences topic.

Ids are shown as their shortest unique prefix (at least 8 characters, like git) and
``expire`` takes any unique prefix; ``--output json|yaml`` gives full ids and ISO 8601 times.
Times are in ``notifier.timezone``, with their offset.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import yaml
from rich.table import Table

from herald.console import PipeConsole
from notifiers.api import silence_state
from notifiers.silences import (
    MIN_PREFIX_CHARS,
    SilenceIdError,
    SilenceRequest,
    SilenceStore,
    parse_duration,
    resolve_id,
    short_ids,
)
from notifiers.templating import format_time
from runtime.config import HeraldConfig
from schemas import Matcher, Silence


def duration_seconds(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    silence = sub.add_parser(
        "silence",
        help="add, list or expire silences (shared by every notifier)",
        description="Add, list or expire silences. They live in the compacted silences topic, so "
        "every notifier replica applies them within moments.",
    )
    actions = silence.add_subparsers(dest="silence_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="silence incidents matching every matcher",
        description="Silence incidents whose labels match every matcher, from now on; prints the "
        "new silence's id.",
    )
    add.add_argument(
        "matchers", nargs="+", help='label matchers (required): namespace=shop severity=~"warning|info"'
    )
    add.add_argument(
        "--for",
        dest="duration",
        type=duration_seconds,
        default="1h",
        metavar="DURATION",
        help="how long, e.g. 30m, 2h or 1d12h (default: %(default)s)",
    )
    add.add_argument("--author", default=None, help="who is silencing (default: the login name)")
    add.add_argument("--comment", default="", help="why (default: none)")
    ls = actions.add_parser(
        "ls",
        help="list silences",
        description="List the active and pending silences, ids shortened to their unique prefix and "
        "times in notifier.timezone; --output json|yaml gives full ids and ISO 8601 times.",
    )
    ls.add_argument("--all", action="store_true", help="include expired silences")
    ls.add_argument(
        "-o",
        "--output",
        choices=["table", "json", "yaml"],
        default="table",
        help="format (default: %(default)s)",
    )
    expire = actions.add_parser(
        "expire",
        help="end silences now",
        description="End silences now (their history stays readable with ls --all). Each ID may be "
        f"any unique prefix of at least {MIN_PREFIX_CHARS} characters, as ls shows them; an "
        "ambiguous or unknown prefix is an error (exit 2) and nothing is expired.",
    )
    expire.add_argument("ids", nargs="+", metavar="ID", help="silence ids or unique prefixes (required)")


def run(config: HeraldConfig, args: argparse.Namespace) -> int:
    store = SilenceStore(config.kafka)
    if args.silence_command == "add":
        try:
            matchers = [Matcher.model_validate(text) for text in args.matchers]
        except ValueError as exc:
            print(f"herald silence add: {exc}", file=sys.stderr)
            return 2
        request = SilenceRequest(
            matchers=matchers,
            created_by=args.author or getpass.getuser(),
            comment=args.comment,
            duration_seconds=args.duration,
        )
        silence = store.save(request.silence())
        print(silence.id)
        return 0
    zone = ZoneInfo(config.notifier.timezone)
    if args.silence_command == "ls":
        silences = sorted(store.book().values(), key=lambda s: (s.starts_at, s.id))
        shown = [s for s in silences if args.all or silence_state(s) != "expired"]
        if args.output == "table":
            PipeConsole().print(silence_table(shown, zone=zone, ids=short_ids(s.id for s in silences)))
        elif args.output == "json":
            print(orjson.dumps([described(s, zone) for s in shown], option=orjson.OPT_INDENT_2).decode())
        else:
            print(yaml.safe_dump([described(s, zone) for s in shown], sort_keys=False), end="")
        return 0
    return expire(store, args.ids)


def expire(store: SilenceStore, prefixes: list[str]) -> int:
    """Resolve every prefix first, so a mistyped one expires nothing; 2 if any is not unique."""
    known = [silence.id for silence in store.book().values()]
    try:
        ids = [resolve_id(prefix, known) for prefix in prefixes]
    except SilenceIdError as exc:
        print(f"herald silence expire: {exc}", file=sys.stderr)
        return 2
    for silence_id in dict.fromkeys(ids):
        store.expire(silence_id)
        print(f"expired {silence_id}")
    return 0


def silence_table(silences: list[Silence], *, zone: ZoneInfo, ids: dict[str, str]) -> Table:
    """Ids and times are never wrapped or cut, whatever the width: a cut id cannot be expired."""
    table = Table()
    table.add_column("id", no_wrap=True, min_width=max((len(ids[s.id]) for s in silences), default=2))
    table.add_column("state", no_wrap=True)
    table.add_column("matchers", overflow="fold")
    table.add_column("ends", no_wrap=True, min_width=len("2026-12-06 13:04:05 +08:00"))
    table.add_column("by", overflow="fold")
    table.add_column("comment", overflow="fold")
    for silence in silences:
        table.add_row(
            ids[silence.id],
            silence_state(silence),
            " ".join(str(m) for m in silence.matchers),
            format_time(silence.ends_at, zone),
            silence.created_by,
            silence.comment,
        )
    return table


def described(silence: Silence, zone: ZoneInfo) -> dict[str, Any]:
    """A silence for ``--output json|yaml``: the full id, matchers as ``silence add`` takes them,
    times in ISO 8601 with the zone's offset."""
    return {
        "id": silence.id,
        "state": silence_state(silence),
        "matchers": [str(m) for m in silence.matchers],
        "starts_at": silence.starts_at.astimezone(zone).isoformat(),
        "ends_at": silence.ends_at.astimezone(zone).isoformat(),
        "created_by": silence.created_by,
        "comment": silence.comment,
        "updated_at": silence.updated_at.astimezone(zone).isoformat(),
    }
