"""``herald``: a subcommand per process, sharing one configuration file."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from runtime.config import ConfigError, HeraldConfig, ProducerSettings, load_config
from runtime.log import setup_logging

log = logging.getLogger("herald")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="herald",
        description="kube-herald: Kubernetes events to incidents to chat, over Kafka.",
    )
    parser.add_argument("-c", "--config", type=Path, help="configuration file (default: $HERALD_CONFIG)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-json", action="store_true", help="log JSON lines instead of text")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    producer = sub.add_parser("producer", help="publish a cluster's events to the raw topic")
    producer.add_argument(
        "--events-file", type=Path, required=True, help="JSON lines of Event objects or envelopes"
    )
    producer.add_argument("--cluster", help="cluster id (overrides producer.cluster)")

    sub.add_parser("processor", help="run a processing worker (Faust)")

    notifier = sub.add_parser("notifier", help="deliver incidents to one receiver")
    notifier.add_argument("--receiver", required=True, help="name of a receiver in the config")

    demo = sub.add_parser("demo", help="run the whole pipeline on sample events, printing alerts")
    demo.add_argument("--events-file", type=Path, help="events to replay (default: the packaged sample)")
    demo.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    return parser


def _producer_settings(config: HeraldConfig, cluster: str | None) -> ProducerSettings | None:
    """The producer section, with ``--cluster`` applied (validated like the file's value)."""
    base = config.producer.model_dump() if config.producer else {}
    if cluster:
        base["cluster"] = cluster
    if "cluster" not in base:
        return None
    return config.validate_section(("producer",), ProducerSettings, base)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.log_level, json_lines=args.log_json)
    try:
        config = load_config(args.config)
        return _dispatch(args, config)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, config: HeraldConfig) -> int:
    if args.command == "producer":
        from producer.main import run_from_file

        settings = _producer_settings(config, args.cluster)
        if settings is None:
            print(f"{config.source_file}: producer.cluster: required (or pass --cluster)", file=sys.stderr)
            return 2
        return run_from_file(config, settings, args.events_file)
    if args.command == "processor":
        from processors.main import run_worker

        run_worker(config, loglevel=args.log_level.lower().replace("warning", "warn"))
        return 0
    if args.command == "notifier":
        from notifiers.main import run_notifier

        return run_notifier(config, args.receiver)
    if args.command == "demo":
        from herald.demo import run_demo

        return run_demo(config_path=args.config, events_file=args.events_file, timeout=args.timeout)
    raise AssertionError(args.command)


if __name__ == "__main__":
    raise SystemExit(main())
