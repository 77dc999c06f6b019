"""``herald silence add|ls|expire``: the command-line side of the silences topic."""

from __future__ import annotations

import argparse
import getpass
import sys

from rich.console import Console
from rich.table import Table

from notifiers.api import silence_state
from notifiers.silences import SilenceRequest, SilenceStore, parse_duration
from runtime.config import HeraldConfig
from schemas import Matcher


def duration_seconds(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    silence = sub.add_parser("silence", help="add, list or expire silences (shared by every notifier)")
    actions = silence.add_subparsers(dest="silence_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="silence incidents matching every matcher")
    add.add_argument("matchers", nargs="+", help='label matchers: namespace=shop severity=~"warning|info"')
    add.add_argument("--for", dest="duration", type=duration_seconds, default=3600.0, help="e.g. 2h")
    add.add_argument("--author", default=None, help="who is silencing (default: the login name)")
    add.add_argument("--comment", default="", help="why")
    ls = actions.add_parser("ls", help="list silences")
    ls.add_argument("--all", action="store_true", help="include expired silences")
    expire = actions.add_parser("expire", help="end silences now")
    expire.add_argument("ids", nargs="+")


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
    if args.silence_command == "ls":
        silences = sorted(store.book().values(), key=lambda s: s.starts_at)
        table = Table("id", "state", "matchers", "ends", "by", "comment")
        for silence in silences:
            state = silence_state(silence)
            if state == "expired" and not args.all:
                continue
            table.add_row(
                silence.id,
                state,
                " ".join(str(m) for m in silence.matchers),
                silence.ends_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                silence.created_by,
                silence.comment,
            )
        Console().print(table)
        return 0
    status = 0
    for silence_id in args.ids:
        try:
            store.expire(silence_id)
            print(f"expired {silence_id}")
        except KeyError:
            print(f"herald silence expire: no silence {silence_id!r}", file=sys.stderr)
            status = 1
    return status
